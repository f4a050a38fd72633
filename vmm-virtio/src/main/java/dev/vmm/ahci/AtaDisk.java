package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * An ATA disk (ATA8-ACS) over a {@link BlockDevice}: 512-byte logical sectors, LBA48, NCQ with 32
 * tags, DATA SET MANAGEMENT / TRIM (→ {@link BlockDevice#discard}), a volatile write cache the guest
 * may switch off with SET FEATURES (then every write is flushed). Everything not listed in
 * {@link #execute} is aborted (ERR, ABRT), as a drive does with a command it does not implement.
 */
public final class AtaDisk implements AhciDrive {
    public static final int SECTOR = 512;
    /** PxSIG of an ATA device (ATA8-ACS table 206). */
    public static final int SIGNATURE = 0x0000_0101;
    /** Most 512-byte blocks of LBA range entries in one DATA SET MANAGEMENT (IDENTIFY word 105). */
    public static final int MAX_TRIM_BLOCKS = 8;
    /** Largest range one TRIM entry may give (16-bit length). */
    static final int MAX_RANGE_SECTORS = 0xFFFF;

    /**
     * @param model             IDENTIFY words 27-46 (40 characters)
     * @param serial            words 10-19 (20 characters)
     * @param firmware          words 23-26 (8 characters)
     * @param physicalBlockSize 512 or 4096 (word 106)
     * @param discard           TRIM releases space in the image (discard=unmap); otherwise TRIM is accepted and ignored
     */
    public record Config(String model, String serial, String firmware, int physicalBlockSize, boolean discard) {
        public Config {
            if (physicalBlockSize != 512 && physicalBlockSize != 4096) {
                throw new IllegalArgumentException("physical block size must be 512 or 4096, not " + physicalBlockSize);
            }
            model = Identify.clean(model, 40);
            serial = Identify.clean(serial, 20);
            firmware = Identify.clean(firmware, 8);
        }

        public static Config of(String serial) {
            return new Config("VMM HARDDISK", serial, "1.0", 4096, true);
        }
    }

    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final BlockDevice disk;
    private final Config config;
    private final long sectors;
    private volatile boolean writeCache = true;
    private volatile int transferMode = 0x45; // UDMA mode 5 until SET FEATURES says otherwise

    public AtaDisk(BlockDevice disk, Config config) {
        this.disk = disk;
        this.config = config;
        this.sectors = disk.size() / SECTOR;
    }

    public long sectors() { return sectors; }

    public boolean writeCacheEnabled() { return writeCache; }

    @Override public int signature() { return SIGNATURE; }

    /** 30h after a reset, as QEMU 7.2's IDE core reports a disk (checked by AhciQemuBehaviourTest). */
    @Override public int resetStatus() { return AtaResult.DF | AtaResult.DSC; }

    @Override public String kind() { return "disk"; }

    /** What SET FEATURES changed, for snapshots. */
    public record State(boolean writeCache, int transferMode) { }

    public State save() { return new State(writeCache, transferMode); }

    public void restore(State s) {
        writeCache = s.writeCache();
        transferMode = s.transferMode();
    }

    @Override
    public AtaResult execute(AtaCommand c, Prdt data) {
        AtaResult r = run(c, data);
        if (c.isNcq() && r.failed()) recordNcqError(c, r);
        return r;
    }

    private AtaResult run(AtaCommand c, Prdt data) {
        return switch (c.command()) {
            case AtaCommand.IDENTIFY_DEVICE -> {
                byte[] id = identify();
                need(data, id.length);
                data.buffer.write(0, id);
                yield AtaResult.ok(id.length, AtaResult.Protocol.PIO_IN);
            }
            case AtaCommand.READ_DMA, AtaCommand.READ_SECTORS ->
                    transfer(false, c.lba28(), c.count() & 0xFF, 256, false, data, dmaOr(c, AtaCommand.READ_DMA, true));
            case AtaCommand.WRITE_DMA, AtaCommand.WRITE_SECTORS ->
                    transfer(true, c.lba28(), c.count() & 0xFF, 256, false, data, dmaOr(c, AtaCommand.WRITE_DMA, false));
            case AtaCommand.READ_DMA_EXT, AtaCommand.READ_SECTORS_EXT ->
                    transfer(false, c.lba(), c.count(), 65536, false, data, dmaOr(c, AtaCommand.READ_DMA_EXT, true));
            case AtaCommand.WRITE_DMA_EXT, AtaCommand.WRITE_SECTORS_EXT ->
                    transfer(true, c.lba(), c.count(), 65536, false, data, dmaOr(c, AtaCommand.WRITE_DMA_EXT, false));
            case AtaCommand.READ_FPDMA_QUEUED ->
                    transfer(false, c.lba(), c.features(), 65536, false, data, AtaResult.Protocol.DMA);
            case AtaCommand.WRITE_FPDMA_QUEUED ->
                    transfer(true, c.lba(), c.features(), 65536, (c.device() & 0x80) != 0, data, AtaResult.Protocol.DMA);
            case AtaCommand.READ_VERIFY -> verify(c.lba28(), c.count() & 0xFF, 256);
            case AtaCommand.READ_VERIFY_EXT -> verify(c.lba(), c.count(), 65536);
            case AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT -> flush();
            case AtaCommand.DATA_SET_MANAGEMENT ->
                    (c.features() & 0x01) == 0 ? AtaResult.abort() : trim(c.count(), data, AtaResult.Protocol.DMA);
            case AtaCommand.SEND_FPDMA_QUEUED -> // subcommand 00h (DSM) with the TRIM function, the only one offered in log 13h
                    ((c.count() >> 8) & 0x1F) != 0 || (c.auxiliary() & 0x01) == 0 ? AtaResult.abort()
                            : trim(c.features(), data, AtaResult.Protocol.DMA);
            case AtaCommand.READ_LOG_EXT -> readLog(c, data, AtaResult.Protocol.PIO_IN);
            case AtaCommand.READ_LOG_DMA_EXT -> readLog(c, data, AtaResult.Protocol.DMA);
            case AtaCommand.SET_FEATURES -> setFeatures(c);
            default -> AtaResult.abort(); // PACKET, IDENTIFY PACKET DEVICE, READ LOG EXT, SMART...: not implemented
        };
    }

    private static AtaResult.Protocol dmaOr(AtaCommand c, int dmaCode, boolean in) {
        return c.command() == dmaCode ? AtaResult.Protocol.DMA : in ? AtaResult.Protocol.PIO_IN : AtaResult.Protocol.PIO_OUT;
    }

    /** The transfer needs {@code bytes}: fewer in the PRDs is the guest's mistake. */
    static void need(Prdt data, long bytes) {
        if (data.size() < bytes) {
            throw new CommandFault("the command moves " + bytes + " bytes but its PRDs hold " + data.size());
        }
    }

    private boolean inRange(long lba, long count) {
        return lba >= 0 && lba <= sectors && count <= sectors - lba;
    }

    private AtaResult transfer(boolean write, long lba, int rawCount, int zeroMeans, boolean fua, Prdt data, AtaResult.Protocol p) {
        long count = rawCount == 0 ? zeroMeans : rawCount;
        if (!inRange(lba, count)) return AtaResult.abort(); // ABRT, not IDNF: what QEMU 7.2 answers
        if (write && disk.readOnly()) return AtaResult.abort();
        long bytes = count * SECTOR;
        need(data, bytes);
        long base = lba * SECTOR;
        try {
            if (write) {
                data.buffer.forEach(0, bytes, (off, piece) -> disk.write(base + off, piece));
                if (fua || !writeCache) disk.flush();
            } else {
                data.buffer.forEach(0, bytes, (off, piece) -> disk.read(base + off, piece));
            }
        } catch (RuntimeException e) { // BlockException, I/O error: a medium error for the guest
            return AtaResult.error(write ? AtaResult.ABRT : AtaResult.UNC);
        }
        return AtaResult.ok(bytes, p);
    }

    private AtaResult verify(long lba, int rawCount, int zeroMeans) {
        long count = rawCount == 0 ? zeroMeans : rawCount;
        return inRange(lba, count) ? AtaResult.ok(0, AtaResult.Protocol.NON_DATA) : AtaResult.abort();
    }

    private AtaResult flush() {
        if (disk.readOnly()) return AtaResult.ok(0, AtaResult.Protocol.NON_DATA);
        try {
            disk.flush();
        } catch (RuntimeException e) {
            return AtaResult.abort();
        }
        return AtaResult.ok(0, AtaResult.Protocol.NON_DATA);
    }

    /** TRIM (DATA SET MANAGEMENT, or queued through SEND FPDMA QUEUED): 8-byte entries (LBA 47:0, count 63:48) in blocks × 512 bytes. */
    private AtaResult trim(int blocks, Prdt data, AtaResult.Protocol p) {
        if (blocks == 0 || blocks > MAX_TRIM_BLOCKS || disk.readOnly()) return AtaResult.abort();
        int bytes = blocks * SECTOR;
        need(data, bytes);
        byte[] list = data.buffer.read(0, bytes);
        long[] starts = new long[bytes / 8], lengths = new long[bytes / 8];
        for (int i = 0; i < starts.length; i++) { // validate every entry before touching the disk
            long e = MemorySegment.ofArray(list).get(LE64, 8L * i);
            starts[i] = e & 0xFFFF_FFFF_FFFFL;
            lengths[i] = e >>> 48;
            if (lengths[i] != 0 && !inRange(starts[i], lengths[i])) return AtaResult.abort();
        }
        if (config.discard()) {
            try {
                for (int i = 0; i < starts.length; i++) {
                    if (lengths[i] != 0) disk.discard(starts[i] * SECTOR, lengths[i] * SECTOR);
                }
            } catch (RuntimeException e) {
                return AtaResult.abort();
            }
        }
        return AtaResult.ok(bytes, p);
    }

    // ---- general purpose logs -------------------------------------------------------------------

    static final int LOG_DIRECTORY = 0x00, LOG_NCQ_ERROR = 0x10, LOG_NCQ_SEND_RECEIVE = 0x13;

    /** The last failed NCQ command (log 10h), cleared when read, as ATA8-ACS §A.13 says. */
    private byte[] ncqError;

    private synchronized void recordNcqError(AtaCommand c, AtaResult r) {
        byte[] log = new byte[SECTOR];
        log[0] = (byte) c.ncqTag();
        log[2] = (byte) r.status();
        log[3] = (byte) r.error();
        log[4] = (byte) c.lba();
        log[5] = (byte) (c.lba() >> 8);
        log[6] = (byte) (c.lba() >> 16);
        log[7] = (byte) c.device();
        log[8] = (byte) (c.lba() >> 24);
        log[9] = (byte) (c.lba() >> 32);
        log[10] = (byte) (c.lba() >> 40);
        log[12] = (byte) c.count();
        log[13] = (byte) (c.count() >> 8);
        int sum = 0;
        for (int i = 0; i < 511; i++) sum += log[i] & 0xFF;
        log[511] = (byte) -sum;
        ncqError = log;
    }

    /** READ LOG (DMA) EXT of the directory, the NCQ command error log and the NCQ send/receive log; one page each. */
    private AtaResult readLog(AtaCommand c, Prdt data, AtaResult.Protocol p) {
        int log = (int) (c.lba() & 0xFF);
        long page = (c.lba() >>> 8 & 0xFF) | (c.lba() >>> 32 & 0xFFFF) << 8;
        if (c.count() != 1 || page != 0) return AtaResult.abort();
        byte[] b = new byte[SECTOR];
        switch (log) {
            case LOG_DIRECTORY -> {
                b[0] = 0x01; // version
                b[2 * LOG_NCQ_ERROR] = 1;
                b[2 * LOG_NCQ_SEND_RECEIVE] = 1;
            }
            case LOG_NCQ_ERROR -> {
                synchronized (this) {
                    if (ncqError != null) b = ncqError;
                    else b[0] = (byte) 0x80; // NQ: the last error was not an NCQ command
                    ncqError = null;
                }
            }
            case LOG_NCQ_SEND_RECEIVE -> {
                b[0] = 0x01; // SEND FPDMA QUEUED with DATA SET MANAGEMENT
                b[4] = 0x01; // DSM: TRIM
            }
            default -> { return AtaResult.abort(); }
        }
        need(data, SECTOR);
        data.buffer.write(0, b);
        return AtaResult.ok(SECTOR, p);
    }

    private AtaResult setFeatures(AtaCommand c) {
        int sub = c.features() & 0xFF;
        switch (sub) {
            case 0x02 -> writeCache = true;
            case 0x82 -> writeCache = false;
            case 0x03 -> { // set transfer mode: PIO (0x08|n, n<=4), multiword DMA (0x20|n, n<=2), UDMA (0x40|n, n<=6)
                int mode = c.count() & 0xFF;
                boolean valid = mode <= 0x01 || (mode >= 0x08 && mode <= 0x0C) || (mode >= 0x20 && mode <= 0x22)
                        || (mode >= 0x40 && mode <= 0x46);
                if (!valid) return AtaResult.abort();
                if (mode >= 0x20) transferMode = mode;
            }
            case 0x10, 0x90, 0xAA, 0x55, 0x66, 0xCC -> { } // SATA features, read look-ahead, revert to defaults: accepted
            default -> { return AtaResult.abort(); }
        }
        return AtaResult.ok(0, AtaResult.Protocol.NON_DATA);
    }

    /** IDENTIFY DEVICE data (ATA8-ACS table 22). */
    byte[] identify() {
        Identify id = new Identify();
        long chs = Math.min(sectors, 16383L * 16 * 63);
        int cylinders = (int) Math.max(1, Math.min(16383, chs / (16 * 63)));
        id.set(0, 0x0040) // fixed device, ATA
          .set(1, cylinders).set(3, 16).set(6, 63)
          .string(10, 10, config.serial())
          .string(23, 4, config.firmware())
          .string(27, 20, config.model())
          .set(47, 0x8010) // READ/WRITE MULTIPLE: at most 16 sectors per DRQ block
          .set(49, 0x0B00) // IORDY, LBA, DMA
          .set(50, 0x4000)
          .set(53, 0x0007) // words 54-58, 64-70 and 88 valid
          .set(54, cylinders).set(55, 16).set(56, 63)
          .set32(57, (long) cylinders * 16 * 63)
          .set32(60, Math.min(sectors, 0x0FFF_FFFFL))
          .set(63, 0x0007 | (transferMode >= 0x20 && transferMode < 0x40 ? 0x100 << (transferMode & 7) : 0))
          .set(64, 0x0003) // PIO modes 3 and 4
          .set(65, 120).set(66, 120).set(67, 120).set(68, 120)
          .set(75, 31) // queue depth 32 (value + 1)
          .set(76, 0x0102) // SATA: NCQ, Gen1 (1.5 Gb/s) as PxSSTS reports
          .set(77, 0x0040) // SEND and RECEIVE FPDMA QUEUED (queued TRIM, see log 13h)
          .set(80, 0x00F0) // ATA/ATAPI-4 .. -7, as QEMU 7.2 reports (TRIM needs 7 or later in Linux)
          .set(82, 0x0020) // volatile write cache
          .set(83, 0x7400) // FLUSH CACHE EXT, FLUSH CACHE, 48-bit addressing
          .set(84, 0x4020) // general purpose logging
          .set(85, writeCache ? 0x0020 : 0)
          .set(86, 0xB400) // + words 119-120 valid
          .set(87, 0x4020)
          .set(88, 0x007F | (transferMode >= 0x40 ? 0x100 << (transferMode & 7) : 0)) // UDMA 0-6, selected mode
          .set64(100, sectors)
          .set(105, MAX_TRIM_BLOCKS)
          .set(106, config.physicalBlockSize() == 4096 ? 0x6003 : 0x4000) // 2^3 logical sectors per physical sector
          .set(119, 0x4008).set(120, 0x4008) // READ LOG DMA EXT
          .set(169, 0x0001); // TRIM supported (with discard off it is accepted and does nothing)
        return id.bytes();
    }
}
