package dev.vmm.usb.storage;

import java.util.Arrays;

/**
 * A Command Block Wrapper (USB Mass Storage Class Bulk-Only Transport 1.0 §5.1): 31 bytes, signature
 * 43425355h, tag, expected transfer length, direction flag, LUN, command block of 1..16 bytes.
 * {@link #parse} decides whether a CBW is "valid" (§6.2.1: 31 bytes, right signature) and
 * "meaningful" (reserved bits zero, LUN supported, CB length 1..16); anything else is refused.
 *
 * @param dataLength the host's expected transfer length (dCBWDataTransferLength), unsigned 32-bit
 */
public record CommandBlockWrapper(int tag, long dataLength, boolean in, int lun, byte[] cdb) {
    public static final int LENGTH = 31;
    public static final int SIGNATURE = 0x43425355;

    /** The CBW, or null when it is not valid and meaningful for a device with {@code lunCount} LUNs. */
    public static CommandBlockWrapper parse(byte[] b, int length, int lunCount) {
        if (length != LENGTH || b.length < LENGTH || le32(b, 0) != SIGNATURE) return null;
        int flags = b[12] & 0xff, lunByte = b[13] & 0xff, cbLength = b[14] & 0xff;
        if ((flags & 0x7f) != 0 || (lunByte & 0xf0) != 0 || (cbLength & 0xe0) != 0) return null;
        if (lunByte >= lunCount || cbLength < 1 || cbLength > 16) return null;
        return new CommandBlockWrapper(le32(b, 4), le32(b, 8) & 0xffffffffL, (flags & 0x80) != 0, lunByte,
                Arrays.copyOfRange(b, 15, 15 + cbLength));
    }

    static int le32(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }
}
