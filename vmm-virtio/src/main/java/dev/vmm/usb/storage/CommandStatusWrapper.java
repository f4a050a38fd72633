package dev.vmm.usb.storage;

/**
 * A Command Status Wrapper (BOT 1.0 §5.2): 13 bytes, signature 53425355h, the CBW's tag, the data
 * residue and the status: {@link #PASSED}, {@link #FAILED} (the host asks REQUEST SENSE next) or
 * {@link #PHASE_ERROR} (the host does a reset recovery).
 */
public record CommandStatusWrapper(int tag, long residue, int status) {
    public static final int LENGTH = 13;
    public static final int SIGNATURE = 0x53425355;
    public static final int PASSED = 0, FAILED = 1, PHASE_ERROR = 2;

    public byte[] bytes() {
        byte[] b = new byte[LENGTH];
        put32(b, 0, SIGNATURE);
        put32(b, 4, tag);
        put32(b, 8, (int) Math.min(residue, 0xffffffffL));
        b[12] = (byte) status;
        return b;
    }

    private static void put32(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) b[at + i] = (byte) (v >>> (8 * i));
    }
}
