package dev.vmm.ahci;

/**
 * Serial ATA frame information structures the HBA exchanges with guest memory (SATA 3.x §10.5):
 * the H2D Register FIS it reads from a command table, and the FISes a device sends that the HBA
 * copies into the port's received-FIS area (AHCI 1.3.1 §4.2.1). Little-endian byte arrays.
 */
final class Fis {
    static final int TYPE_REG_H2D = 0x27;
    static final int TYPE_REG_D2H = 0x34;
    static final int TYPE_DMA_SETUP = 0x41;
    static final int TYPE_PIO_SETUP = 0x5F;
    static final int TYPE_SET_DEVICE_BITS = 0xA1;

    /** Offsets in the 256-byte received-FIS area. */
    static final int RX_DMA_SETUP = 0x00;
    static final int RX_PIO_SETUP = 0x20;
    static final int RX_D2H = 0x40;
    static final int RX_SDB = 0x58;
    static final int RX_AREA_SIZE = 0x100;

    private Fis() { }

    /** Device-to-host Register FIS (20 bytes). */
    static byte[] d2h(boolean interrupt, int status, int error, long lba, int device, int count) {
        return registers(TYPE_REG_D2H, interrupt ? 0x40 : 0, status, error, lba, device, count);
    }

    /** PIO Setup FIS (20 bytes): {@code toHost} is the D bit; E_Status carries the ending status. */
    static byte[] pioSetup(boolean interrupt, boolean toHost, int status, int error, long lba, int device, int count,
                           int endStatus, int transferCount) {
        byte[] f = registers(TYPE_PIO_SETUP, (interrupt ? 0x40 : 0) | (toHost ? 0x20 : 0), status, error, lba, device, count);
        f[15] = (byte) endStatus;
        f[16] = (byte) transferCount;
        f[17] = (byte) (transferCount >> 8);
        return f;
    }

    /** Set Device Bits FIS (8 bytes) with the SActive bitmap of completed NCQ tags. */
    static byte[] setDeviceBits(boolean interrupt, int status, int error, int completedTags) {
        byte[] f = new byte[8];
        f[0] = (byte) TYPE_SET_DEVICE_BITS;
        f[1] = (byte) (interrupt ? 0x40 : 0);
        f[2] = (byte) (status & 0x77); // status-hi (6:4) and status-lo (2:0); BSY and DRQ are not carried
        f[3] = (byte) error;
        f[4] = (byte) completedTags;
        f[5] = (byte) (completedTags >> 8);
        f[6] = (byte) (completedTags >> 16);
        f[7] = (byte) (completedTags >> 24);
        return f;
    }

    /**
     * A 20-byte FIS with the register block the D2H Register and PIO Setup FISes share: type, flags
     * byte (I, D bits), status, error, the 48-bit LBA, device and the 16-bit count.
     */
    private static byte[] registers(int type, int flags, int status, int error, long lba, int device, int count) {
        byte[] f = new byte[20];
        f[0] = (byte) type;
        f[1] = (byte) flags;
        f[2] = (byte) status;
        f[3] = (byte) error;
        putLba(f, lba);
        f[7] = (byte) device;
        f[12] = (byte) count;
        f[13] = (byte) (count >> 8);
        return f;
    }

    private static void putLba(byte[] f, long lba) {
        f[4] = (byte) lba;
        f[5] = (byte) (lba >> 8);
        f[6] = (byte) (lba >> 16);
        f[8] = (byte) (lba >> 24);
        f[9] = (byte) (lba >> 32);
        f[10] = (byte) (lba >> 40);
    }
}
