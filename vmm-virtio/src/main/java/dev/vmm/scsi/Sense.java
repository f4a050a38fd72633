package dev.vmm.scsi;

/**
 * Sense data (SPC-4 §4.5): a sense key with its additional sense code and qualifier, built in the
 * fixed format (response code 0x70, 18 bytes) or the descriptor format (0x72, 8 bytes). For
 * INVALID FIELD IN CDB / PARAMETER LIST the fixed format carries a sense-key-specific field pointer
 * (SKSV, C/D, byte and bit), which helps a guest's error log name the offending byte.
 */
public record Sense(int key, int asc, int ascq, int fieldByte, int fieldBit, boolean inCdb) {
    // Sense keys.
    public static final int NO_SENSE = 0x00;
    public static final int NOT_READY = 0x02;
    public static final int MEDIUM_ERROR = 0x03;
    public static final int HARDWARE_ERROR = 0x04;
    public static final int ILLEGAL_REQUEST = 0x05;
    public static final int UNIT_ATTENTION = 0x06;
    public static final int DATA_PROTECT = 0x07;
    public static final int ABORTED_COMMAND = 0x0B;

    /** Fixed-format sense length: 8-byte header + 10 additional bytes. */
    public static final int FIXED_LENGTH = 18;

    public static final Sense NONE = new Sense(NO_SENSE, 0, 0, -1, -1, false);
    public static final Sense INVALID_OPCODE = illegal(0x20, 0x00);
    public static final Sense LBA_OUT_OF_RANGE = illegal(0x21, 0x00);
    public static final Sense LUN_NOT_SUPPORTED = illegal(0x25, 0x00);
    public static final Sense PARAMETER_LIST_LENGTH_ERROR = illegal(0x1A, 0x00);
    public static final Sense SAVING_PARAMETERS_NOT_SUPPORTED = illegal(0x39, 0x00);
    public static final Sense WRITE_PROTECTED = new Sense(DATA_PROTECT, 0x27, 0x00, -1, -1, false);
    /** UNRECOVERED READ ERROR. */
    public static final Sense READ_ERROR = new Sense(MEDIUM_ERROR, 0x11, 0x00, -1, -1, false);
    /** WRITE ERROR. */
    public static final Sense WRITE_ERROR = new Sense(MEDIUM_ERROR, 0x0C, 0x00, -1, -1, false);
    /** INTERNAL TARGET FAILURE (flush, discard, anything not a plain read or write). */
    public static final Sense INTERNAL_TARGET_FAILURE = new Sense(HARDWARE_ERROR, 0x44, 0x00, -1, -1, false);

    private static Sense illegal(int asc, int ascq) {
        return new Sense(ILLEGAL_REQUEST, asc, ascq, -1, -1, false);
    }

    /** INVALID FIELD IN CDB (0x24/00) pointing at {@code byteIndex} (bit {@code bit}, or -1 for the whole byte). */
    public static Sense invalidFieldInCdb(int byteIndex, int bit) {
        return new Sense(ILLEGAL_REQUEST, 0x24, 0x00, byteIndex, bit, true);
    }

    /** INVALID FIELD IN PARAMETER LIST (0x26/00) pointing at byte {@code byteIndex} of the data-out. */
    public static Sense invalidFieldInParameterList(int byteIndex) {
        return new Sense(ILLEGAL_REQUEST, 0x26, 0x00, byteIndex, -1, false);
    }

    /** Fixed-format (0x70, current error) sense bytes. */
    public byte[] fixed() {
        byte[] s = new byte[FIXED_LENGTH];
        s[0] = 0x70;
        s[2] = (byte) key;
        s[7] = (byte) (FIXED_LENGTH - 8);
        s[12] = (byte) asc;
        s[13] = (byte) ascq;
        if (fieldByte >= 0) {
            int b = 0x80 | (inCdb ? 0x40 : 0);
            if (fieldBit >= 0) b |= 0x08 | (fieldBit & 7);
            s[15] = (byte) b;
            s[16] = (byte) (fieldByte >> 8);
            s[17] = (byte) fieldByte;
        }
        return s;
    }

    /** Descriptor-format (0x72) sense bytes, no descriptors. */
    public byte[] descriptor() {
        return new byte[] {0x72, (byte) key, (byte) asc, (byte) ascq, 0, 0, 0, 0};
    }

    @Override
    public String toString() {
        return String.format("sense key 0x%x asc 0x%02x/0x%02x", key, asc, ascq);
    }
}
