package dev.vmm.virtio.scsi;

/**
 * The 8-byte LUN field of virtio-scsi requests (virtio 1.x §5.6.6.1): byte 0 is 1, byte 1 the
 * target, bytes 2-3 the LUN in SAM single-level format (flat space addressing {@code 01b} with 14
 * bits, or peripheral addressing {@code 00b} with bus 0 and an 8-bit LUN), bytes 4-7 zero.
 */
final class VirtioScsiLun {
    private VirtioScsiLun() { }

    /** Not a well-formed virtio-scsi address at all (byte 0 not 1): no such target. */
    static final int BAD_ADDRESS = -2;
    /** A well-formed address of a LUN this encoding cannot name: answered as an absent LUN. */
    static final int NO_LUN = -1;

    static int target(byte[] lun) {
        return lun[0] == 1 ? lun[1] & 0xFF : BAD_ADDRESS;
    }

    /** The LUN number, or {@link #NO_LUN}. */
    static int lun(byte[] lun) {
        for (int i = 4; i < 8; i++) if (lun[i] != 0) return NO_LUN;
        int b2 = lun[2] & 0xFF, b3 = lun[3] & 0xFF;
        return switch (b2 >>> 6) {
            case 1 -> ((b2 & 0x3F) << 8) | b3; // flat space
            case 0 -> b2 == 0 ? b3 : NO_LUN; // peripheral, bus 0 only
            default -> NO_LUN;
        };
    }

    /** How Linux's driver encodes (target, lun): {1, target, 0x40 | lun >> 8, lun & 0xff, 0...}. */
    static byte[] encode(int target, int lun) {
        return new byte[] {1, (byte) target, (byte) (0x40 | (lun >> 8)), (byte) lun, 0, 0, 0, 0};
    }
}
