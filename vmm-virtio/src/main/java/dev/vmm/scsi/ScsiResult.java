package dev.vmm.scsi;

/**
 * The outcome of one SCSI command.
 *
 * @param status      SAM status: {@link #GOOD} or {@link #CHECK_CONDITION}
 * @param dataIn      bytes written to the data-in buffer
 * @param residual    bytes of the data buffer (data-in, or data-out for writes) not transferred
 * @param sense       fixed-format sense data (empty unless CHECK CONDITION)
 * @param overrun     the command needed more data than the buffer given (nothing was transferred);
 *                    a transport reports it as such (virtio: VIRTIO_SCSI_S_OVERRUN), status is GOOD
 */
public record ScsiResult(int status, long dataIn, long residual, byte[] sense, boolean overrun) {
    public static final int GOOD = 0x00;
    public static final int CHECK_CONDITION = 0x02;

    private static final byte[] NO_SENSE = new byte[0];

    static ScsiResult good(long dataIn, long residual) {
        return new ScsiResult(GOOD, dataIn, residual, NO_SENSE, false);
    }

    static ScsiResult check(Sense sense, long bufferSize) {
        return new ScsiResult(CHECK_CONDITION, 0, bufferSize, sense.fixed(), false);
    }

    static ScsiResult overrun(long bufferSize) {
        return new ScsiResult(GOOD, 0, bufferSize, NO_SENSE, true);
    }

    public boolean good() { return status == GOOD && !overrun; }

    /** Sense key of the sense data, or -1 if there is none. */
    public int senseKey() { return sense.length > 2 ? sense[2] & 0x0F : -1; }

    /** Additional sense code, or -1. */
    public int asc() { return sense.length > 13 ? sense[12] & 0xFF : -1; }

    /** Additional sense code qualifier, or -1. */
    public int ascq() { return sense.length > 13 ? sense[13] & 0xFF : -1; }

    @Override
    public String toString() {
        if (overrun) return "OVERRUN";
        if (status == GOOD) return "GOOD dataIn=" + dataIn + " residual=" + residual;
        return String.format("CHECK CONDITION key 0x%x asc 0x%02x/0x%02x", senseKey(), asc(), ascq());
    }
}
