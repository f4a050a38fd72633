package dev.vmm.ahci;

/**
 * One command as the guest issued it: the fields of the H2D Register FIS in its command table
 * (48-bit form; a 28-bit command reads the low parts), the ATAPI command (ACMD) when there is one,
 * and the command header's flags.
 *
 * @param command   ATA command code
 * @param features  features 15:0
 * @param lba       LBA 47:0 (for 28-bit commands the caller takes bits 27:24 from {@code device})
 * @param device    device register
 * @param count     count 15:0
 * @param control   device control register
 * @param auxiliary the auxiliary field (bytes 16-19; SEND FPDMA QUEUED's DSM function)
 * @param cdb       the 16-byte ACMD area (ATAPI command packet)
 * @param atapi     the header's A bit
 * @param write     the header's W bit (data goes to the device)
 * @param slot      the command slot
 */
record AtaCommand(int command, int features, long lba, int device, int count, int control, int auxiliary, byte[] cdb,
                  boolean atapi, boolean write, int slot) {
    // Command codes (ATA8-ACS).
    static final int DATA_SET_MANAGEMENT = 0x06;
    static final int READ_SECTORS = 0x20;
    static final int READ_SECTORS_EXT = 0x24;
    static final int READ_DMA_EXT = 0x25;
    static final int WRITE_SECTORS = 0x30;
    static final int WRITE_SECTORS_EXT = 0x34;
    static final int WRITE_DMA_EXT = 0x35;
    static final int READ_LOG_EXT = 0x2F;
    static final int READ_VERIFY = 0x40;
    static final int READ_LOG_DMA_EXT = 0x47;
    static final int READ_VERIFY_EXT = 0x42;
    static final int READ_FPDMA_QUEUED = 0x60;
    static final int WRITE_FPDMA_QUEUED = 0x61;
    static final int SEND_FPDMA_QUEUED = 0x64;
    static final int RECEIVE_FPDMA_QUEUED = 0x65;
    static final int PACKET = 0xA0;
    static final int IDENTIFY_PACKET_DEVICE = 0xA1;
    static final int READ_DMA = 0xC8;
    static final int WRITE_DMA = 0xCA;
    static final int FLUSH_CACHE = 0xE7;
    static final int IDENTIFY_DEVICE = 0xEC;
    static final int FLUSH_CACHE_EXT = 0xEA;
    static final int SET_FEATURES = 0xEF;

    /** Parses a command FIS of at least 20 bytes (the caller checked type and C bit). */
    static AtaCommand parse(byte[] fis, byte[] acmd, boolean atapi, boolean write, int slot) {
        long lba = (fis[4] & 0xFFL) | (fis[5] & 0xFFL) << 8 | (fis[6] & 0xFFL) << 16
                | (fis[8] & 0xFFL) << 24 | (fis[9] & 0xFFL) << 32 | (fis[10] & 0xFFL) << 40;
        return new AtaCommand(fis[2] & 0xFF, (fis[3] & 0xFF) | (fis[11] & 0xFF) << 8, lba, fis[7] & 0xFF,
                (fis[12] & 0xFF) | (fis[13] & 0xFF) << 8, fis[15] & 0xFF,
                (fis[16] & 0xFF) | (fis[17] & 0xFF) << 8 | (fis[18] & 0xFF) << 16 | (fis[19] & 0xFF) << 24, acmd, atapi, write, slot);
    }

    boolean isNcq() {
        return command == READ_FPDMA_QUEUED || command == WRITE_FPDMA_QUEUED
                || command == SEND_FPDMA_QUEUED || command == RECEIVE_FPDMA_QUEUED;
    }

    /** The NCQ tag (count 7:3). */
    int ncqTag() {
        return (count >> 3) & 0x1F;
    }

    /** LBA of a 28-bit command: LBA 23:0 plus device 3:0 as LBA 27:24. */
    long lba28() {
        return (lba & 0xFF_FFFF) | (long) (device & 0x0F) << 24;
    }
}
