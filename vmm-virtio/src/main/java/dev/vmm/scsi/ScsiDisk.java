package dev.vmm.scsi;

import dev.vmm.block.BlockDevice;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One SCSI direct-access logical unit (SBC-3 disk) over a synchronous {@link BlockDevice}: parses and
 * validates a CDB, runs it against the store and returns status, residual and sense data. Knows
 * nothing of virtio; the transport hands in the CDB and the scatter-gather data buffers.
 *
 * <p>Commands: TEST UNIT READY, REQUEST SENSE, INQUIRY (standard; VPD 0x00, 0x80, 0x83, 0xB0, 0xB1,
 * 0xB2), READ CAPACITY (10/16), READ/WRITE (6/10/12/16), SYNCHRONIZE CACHE (10/16), UNMAP, WRITE
 * SAME (10/16) with UNMAP and NDOB, MODE SENSE (6/10) (caching and control pages), START STOP UNIT,
 * PREVENT ALLOW MEDIUM REMOVAL, REPORT LUNS (this unit alone; {@link ScsiTarget} answers it for the
 * whole target). Everything else is CHECK CONDITION / ILLEGAL REQUEST / INVALID COMMAND OPERATION
 * CODE. Reserved bits, protection fields, NACA/LINK, transfer lengths against the data buffer, and
 * LBA ranges (overflow-safe) are checked; a violation never touches the disk.
 *
 * <p>No state is kept between commands (no deferred sense, no unit attentions, no reservations), so
 * {@link #execute} is safe from any number of threads at once, as the store is.
 */
public final class ScsiDisk {
    /**
     * Per-unit settings.
     *
     * @param blockSize  logical block size, 512 or 4096
     * @param serial     unit serial number (VPD 0x80) and the seed of the NAA identifier; printable ASCII
     * @param unmap      offer thin provisioning: UNMAP and WRITE SAME with UNMAP release space
     * @param writeCache report a volatile write cache (WCE): the guest then sends SYNCHRONIZE CACHE / FUA
     */
    public record Config(int blockSize, String serial, boolean unmap, boolean writeCache) {
        public Config {
            if (blockSize != 512 && blockSize != 4096) throw new IllegalArgumentException("block size must be 512 or 4096, not " + blockSize);
            if (serial == null || serial.isEmpty() || serial.length() > 64 || !serial.chars().allMatch(c -> c > 0x20 && c < 0x7F)) {
                throw new IllegalArgumentException("serial must be 1-64 printable ASCII characters without spaces: '" + serial + "'");
            }
        }

        /** 512-byte blocks, unmap on, write cache reported. */
        public static Config of(String serial) {
            return new Config(512, serial, true, true);
        }

        public Config withBlockSize(int bs) { return new Config(bs, serial, unmap, writeCache); }

        public Config withUnmap(boolean u) { return new Config(blockSize, serial, u, writeCache); }

        public Config withWriteCache(boolean w) { return new Config(blockSize, serial, unmap, w); }
    }

    // Operation codes (SPC-4 / SBC-3).
    public static final int TEST_UNIT_READY = 0x00;
    public static final int REQUEST_SENSE = 0x03;
    public static final int READ_6 = 0x08;
    public static final int WRITE_6 = 0x0A;
    public static final int INQUIRY = 0x12;
    public static final int MODE_SENSE_6 = 0x1A;
    public static final int START_STOP_UNIT = 0x1B;
    public static final int PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E;
    public static final int READ_CAPACITY_10 = 0x25;
    public static final int READ_10 = 0x28;
    public static final int WRITE_10 = 0x2A;
    public static final int SYNCHRONIZE_CACHE_10 = 0x35;
    public static final int WRITE_SAME_10 = 0x41;
    public static final int UNMAP = 0x42;
    public static final int MODE_SENSE_10 = 0x5A;
    public static final int READ_16 = 0x88;
    public static final int WRITE_16 = 0x8A;
    public static final int SYNCHRONIZE_CACHE_16 = 0x91;
    public static final int WRITE_SAME_16 = 0x93;
    public static final int SERVICE_ACTION_IN_16 = 0x9E;
    public static final int SA_READ_CAPACITY_16 = 0x10;
    public static final int REPORT_LUNS = 0xA0;
    public static final int READ_12 = 0xA8;
    public static final int WRITE_12 = 0xAA;

    public static final String VENDOR = "VMM";
    public static final String PRODUCT = "VIRTUAL DISK";
    public static final String REVISION = "0001";

    /** Largest READ/WRITE, in bytes: what virtio-scsi's max_sectors (0xFFFF × 512) allows. */
    public static final long MAX_TRANSFER_BYTES = 0xFFFFL * 512;
    /** Largest UNMAP descriptor / WRITE SAME, in bytes. */
    public static final long MAX_UNMAP_BYTES = 1L << 30;
    /** Most block descriptors in one UNMAP parameter list. */
    public static final int MAX_UNMAP_DESCRIPTORS = 256;
    /** Unmap granularity and physical block hint: the 4 KiB a host file system can punch. */
    public static final int GRANULARITY_BYTES = 4096;

    private final BlockDevice store;
    private final Config config;
    private final int bs;
    private final long capacity;
    private final boolean thin;

    /** {@code store} is not closed by the logical unit: its owner closes it. */
    public ScsiDisk(BlockDevice store, Config config) {
        this.store = store;
        this.config = config;
        this.bs = config.blockSize();
        this.capacity = store.size() / bs;
        if (capacity < 1) throw new IllegalArgumentException("disk of " + store.size() + " bytes is smaller than one " + bs + "-byte block");
        this.thin = config.unmap() && !store.readOnly();
    }

    public Config config() { return config; }

    /** Number of logical blocks. */
    public long capacity() { return capacity; }

    public int blockSize() { return bs; }

    public boolean readOnly() { return store.readOnly(); }

    /** Whether {@code opcode} may do disk I/O (so a transport runs it off its event loop). */
    public static boolean touchesDisk(int opcode) {
        return switch (opcode) {
            case READ_6, WRITE_6, READ_10, WRITE_10, READ_12, WRITE_12, READ_16, WRITE_16, SYNCHRONIZE_CACHE_10,
                 SYNCHRONIZE_CACHE_16, WRITE_SAME_10, WRITE_SAME_16, UNMAP, START_STOP_UNIT -> true;
            default -> false;
        };
    }

    /** CDB length implied by the group code of {@code opcode}, or -1 for groups not supported (3, 6, 7). */
    public static int cdbLength(int opcode) {
        return switch (opcode >>> 5) {
            case 0 -> 6;
            case 1, 2 -> 10;
            case 4 -> 16;
            case 5 -> 12;
            default -> -1;
        };
    }

    /** A command refused with sense data; thrown inside, turned into CHECK CONDITION by execute. */
    private static final class Check extends RuntimeException {
        final Sense sense;

        Check(Sense sense) {
            super(sense.toString(), null, false, false);
            this.sense = sense;
        }
    }

    /** The command wants more data than the buffer holds. */
    private static final class Overrun extends RuntimeException {
        Overrun() { super("overrun", null, false, false); }
    }

    /**
     * Runs one command. {@code cdb} may be longer than the command (transports pass a fixed-size
     * CDB area); {@code dataOut} holds what the initiator sent, {@code dataIn} receives the reply.
     * Never throws for any CDB or buffer.
     */
    public ScsiResult execute(byte[] cdb, DataBuffer dataOut, DataBuffer dataIn) {
        long bufSize = dataIn.size() > 0 ? dataIn.size() : dataOut.size();
        try {
            return dispatch(cdb, dataOut, dataIn);
        } catch (Check c) {
            return ScsiResult.check(c.sense, bufSize);
        } catch (Overrun o) {
            return ScsiResult.overrun(bufSize);
        } catch (RuntimeException e) { // a bug, not the guest's doing: report it, never throw to the transport
            return ScsiResult.check(Sense.INTERNAL_TARGET_FAILURE, bufSize);
        }
    }

    /**
     * A READ or WRITE that passed every check and moves data, for a transport with an asynchronous
     * data path: {@code bytes} at byte {@code offset} of the store, between it and the start of the
     * data-out (write) or data-in (read) buffer; {@code fua}: flush after the write.
     */
    public record Transfer(boolean write, long offset, long bytes, boolean fua) {}

    /**
     * The {@link Transfer} of a READ/WRITE (6, 10, 12, 16) that {@link #execute} would run as a
     * plain data transfer; null for every other command, for one that {@link #execute} would refuse
     * (so it is run there and answered with the right sense) and for one that moves nothing.
     * Never throws.
     */
    public Transfer plainTransfer(byte[] cdb, DataBuffer out, DataBuffer in) {
        try {
            int op = checkedOpcode(cdb);
            return switch (op) {
                case READ_6, WRITE_6, READ_10, WRITE_10, READ_12, WRITE_12, READ_16, WRITE_16 -> rwPlan(op, cdb, out, in);
                default -> null;
            };
        } catch (RuntimeException e) { // Check, Overrun: execute answers it
            return null;
        }
    }

    /**
     * The answer to a {@link #plainTransfer} the transport ran itself; {@code result} is the byte
     * count moved (anything but {@code t.bytes()} - a short transfer, {@code -errno} - is a medium
     * error, as when the store throws in {@link #execute}).
     */
    public ScsiResult transferDone(Transfer t, long result, DataBuffer out, DataBuffer in) {
        if (result != t.bytes()) {
            return ScsiResult.check(t.write() ? Sense.WRITE_ERROR : Sense.READ_ERROR, t.write() ? out.size() : in.size());
        }
        return t.write() ? ScsiResult.good(0, out.size() - t.bytes()) : ScsiResult.good(t.bytes(), in.size() - t.bytes());
    }

    /** The opcode, once the CDB is long enough for it and its control byte is acceptable. */
    private static int checkedOpcode(byte[] cdb) {
        if (cdb.length == 0) throw new Check(Sense.INVALID_OPCODE);
        int op = u8(cdb, 0);
        int len = cdbLength(op);
        if (len < 0) throw new Check(Sense.INVALID_OPCODE);
        if (cdb.length < len) throw new Check(Sense.invalidFieldInCdb(cdb.length, -1));
        // Control byte: NACA (bit 2) needs ACA support, LINK (bit 0) is obsolete: both refused.
        if ((cdb[len - 1] & 0x04) != 0) throw new Check(Sense.invalidFieldInCdb(len - 1, 2));
        if ((cdb[len - 1] & 0x01) != 0) throw new Check(Sense.invalidFieldInCdb(len - 1, 0));
        return op;
    }

    /** Validates READ/WRITE (6, 10, 12, 16): the transfer, or null when it moves nothing. */
    private Transfer rwPlan(int op, byte[] cdb, DataBuffer out, DataBuffer in) {
        return switch (op) {
            case READ_6, WRITE_6 -> {
                reserved(cdb, 1, 0xE0, 5, 0xFF);
                long lba = ((cdb[1] & 0x1FL) << 16) | (u8(cdb, 2) << 8) | u8(cdb, 3);
                int n = u8(cdb, 4) == 0 ? 256 : u8(cdb, 4); // READ(6)/WRITE(6): 0 means 256 blocks
                yield plan(op == WRITE_6, lba, n, false, 4, out, in);
            }
            case READ_10, WRITE_10 -> {
                rwFlags(cdb, op == WRITE_10);
                reserved(cdb, 6, 0xE0);
                yield plan(op == WRITE_10, u32(cdb, 2), u16(cdb, 7), (cdb[1] & 0x08) != 0, 7, out, in);
            }
            case READ_12, WRITE_12 -> {
                rwFlags(cdb, op == WRITE_12);
                reserved(cdb, 10, 0xE0);
                yield plan(op == WRITE_12, u32(cdb, 2), u32(cdb, 6), (cdb[1] & 0x08) != 0, 6, out, in);
            }
            default -> { // READ_16, WRITE_16
                rwFlags(cdb, op == WRITE_16);
                yield plan(op == WRITE_16, u64(cdb, 2), u32(cdb, 10), (cdb[1] & 0x08) != 0, 10, out, in);
            }
        };
    }

    private ScsiResult dispatch(byte[] cdb, DataBuffer out, DataBuffer in) {
        int op = checkedOpcode(cdb);
        return switch (op) {
            case TEST_UNIT_READY -> {
                reserved(cdb, 1, 0xFF, 2, 0xFF, 3, 0xFF, 4, 0xFF);
                yield ScsiResult.good(0, in.size());
            }
            case REQUEST_SENSE -> {
                reserved(cdb, 1, 0xFE, 2, 0xFF, 3, 0xFF);
                // No deferred sense is ever kept (autosense carries errors): report NO SENSE.
                byte[] s = (cdb[1] & 1) != 0 ? Sense.NONE.descriptor() : Sense.NONE.fixed();
                yield reply(s, u8(cdb, 4), in);
            }
            case INQUIRY -> inquiry(cdb, in);
            case MODE_SENSE_6 -> {
                reserved(cdb, 1, 0xF7);
                yield modeSense(cdb, false, (cdb[1] & 0x08) != 0, false, u8(cdb, 4), in);
            }
            case MODE_SENSE_10 -> {
                reserved(cdb, 1, 0xE7, 4, 0xFF, 5, 0xFF, 6, 0xFF);
                yield modeSense(cdb, true, (cdb[1] & 0x08) != 0, (cdb[1] & 0x10) != 0, u16(cdb, 7), in);
            }
            case START_STOP_UNIT -> startStop(cdb, in);
            case PREVENT_ALLOW_MEDIUM_REMOVAL -> {
                // Not a removable medium: nothing to lock; accepted like QEMU's and real disks do.
                reserved(cdb, 1, 0xFF, 2, 0xFF, 3, 0xFF, 4, 0xFC);
                yield ScsiResult.good(0, in.size());
            }
            case READ_CAPACITY_10 -> {
                reserved(cdb, 1, 0xFF, 6, 0xFF, 7, 0xFF, 8, 0xFE);
                if ((cdb[8] & 1) == 0 && u32(cdb, 2) != 0) throw new Check(Sense.invalidFieldInCdb(2, -1));
                byte[] r = new byte[8];
                put32(r, 0, Math.min(capacity - 1, 0xFFFFFFFFL));
                put32(r, 4, bs);
                yield reply(r, r.length, in);
            }
            case SERVICE_ACTION_IN_16 -> {
                reserved(cdb, 1, 0xE0, 14, 0xFE);
                if ((cdb[1] & 0x1F) != SA_READ_CAPACITY_16) throw new Check(Sense.invalidFieldInCdb(1, 4));
                if ((cdb[14] & 1) == 0 && u64(cdb, 2) != 0) throw new Check(Sense.invalidFieldInCdb(2, -1));
                yield reply(readCapacity16(), u32(cdb, 10), in);
            }
            case READ_6, WRITE_6, READ_10, WRITE_10, READ_12, WRITE_12, READ_16, WRITE_16 -> {
                Transfer t = rwPlan(op, cdb, out, in);
                yield t == null ? ScsiResult.good(0, in.size()) : transfer(t, out, in);
            }
            case SYNCHRONIZE_CACHE_10 -> {
                reserved(cdb, 1, 0xF9, 6, 0xE0);
                yield synchronizeCache(u32(cdb, 2), u16(cdb, 7), in);
            }
            case SYNCHRONIZE_CACHE_16 -> {
                reserved(cdb, 1, 0xF9, 14, 0xE0);
                yield synchronizeCache(u64(cdb, 2), u32(cdb, 10), in);
            }
            case WRITE_SAME_10 -> {
                reserved(cdb, 1, 0x01, 6, 0xE0);
                yield writeSame(cdb, u32(cdb, 2), u16(cdb, 7), 7, false, out, in);
            }
            case WRITE_SAME_16 -> {
                reserved(cdb, 14, 0xE0);
                yield writeSame(cdb, u64(cdb, 2), u32(cdb, 10), 10, (cdb[1] & 0x01) != 0, out, in);
            }
            case UNMAP -> unmap(cdb, out, in);
            case REPORT_LUNS -> reportLuns(cdb, new int[] {0}, in);
            default -> throw new Check(Sense.INVALID_OPCODE);
        };
    }

    // ---- INQUIRY ------------------------------------------------------------------------------

    private ScsiResult inquiry(byte[] cdb, DataBuffer in) {
        reserved(cdb, 1, 0xFE); // CMDDT (bit 1) is obsolete and must be zero
        int page = u8(cdb, 2);
        int alloc = u16(cdb, 3);
        if ((cdb[1] & 1) == 0) {
            if (page != 0) throw new Check(Sense.invalidFieldInCdb(2, -1));
            return reply(standardInquiry(0), alloc, in);
        }
        byte[] body = switch (page) {
            case 0x00 -> new byte[] {0x00, (byte) 0x80, (byte) 0x83, (byte) 0xB0, (byte) 0xB1, (byte) 0xB2};
            case 0x80 -> config.serial().getBytes(StandardCharsets.US_ASCII);
            case 0x83 -> deviceIdentification();
            case 0xB0 -> blockLimits();
            case 0xB1 -> {
                byte[] b = new byte[0x3C];
                b[1] = 1; // MEDIUM ROTATION RATE 0001h: non-rotating (solid state)
                yield b;
            }
            case 0xB2 -> {
                byte[] b = new byte[4];
                if (thin) {
                    b[1] = (byte) (0x80 | 0x40 | 0x20); // LBPU, LBPWS, LBPWS10; LBPRZ 0: unmapped blocks are not promised as zeroes
                    b[2] = 0x02; // provisioning type: thin
                }
                yield b;
            }
            default -> throw new Check(Sense.invalidFieldInCdb(2, -1));
        };
        byte[] r = new byte[4 + body.length];
        r[1] = (byte) page;
        put16(r, 2, body.length);
        System.arraycopy(body, 0, r, 4, body.length);
        return reply(r, alloc, in);
    }

    /** Standard INQUIRY data; {@code peripheral} = qualifier (bits 7-5) and device type (bits 4-0). */
    static byte[] standardInquiry(int peripheral) {
        byte[] r = new byte[66];
        r[0] = (byte) peripheral;
        r[2] = 0x06; // VERSION: SPC-4
        r[3] = 0x12; // HISUP, RESPONSE DATA FORMAT 2
        r[4] = (byte) (r.length - 5);
        r[7] = 0x02; // CMDQUE: tagged queueing
        ascii(r, 8, 8, VENDOR);
        ascii(r, 16, 16, PRODUCT);
        ascii(r, 32, 4, REVISION);
        put16(r, 58, 0x00A0); // version descriptors: SAM-5, SPC-4, SBC-3
        put16(r, 60, 0x0460);
        put16(r, 62, 0x04C0);
        return r;
    }

    private byte[] deviceIdentification() {
        byte[] t10 = new byte[8 + 16 + config.serial().length()];
        ascii(t10, 0, 8, VENDOR);
        ascii(t10, 8, 16, PRODUCT);
        ascii(t10, 24, config.serial().length(), config.serial());
        // NAA 3h (locally assigned, 8 bytes): 60 bits of a hash of the serial, stable across runs.
        long h = 0xcbf29ce484222325L;
        for (byte b : config.serial().getBytes(StandardCharsets.US_ASCII)) h = (h ^ (b & 0xFF)) * 0x100000001b3L;
        byte[] naa = new byte[8];
        put64(naa, 0, (3L << 60) | (h & 0x0FFFFFFFFFFFFFFFL));
        byte[] r = new byte[4 + naa.length + 4 + t10.length];
        r[0] = 0x01; // code set binary
        r[1] = 0x03; // association: logical unit, designator type NAA
        r[3] = (byte) naa.length;
        System.arraycopy(naa, 0, r, 4, naa.length);
        int o = 4 + naa.length;
        r[o] = 0x02; // code set ASCII
        r[o + 1] = 0x01; // association: logical unit, designator type T10 vendor ID
        r[o + 3] = (byte) t10.length;
        System.arraycopy(t10, 0, r, o + 4, t10.length);
        return r;
    }

    private byte[] blockLimits() {
        byte[] b = new byte[0x3C];
        int gran = Math.max(1, GRANULARITY_BYTES / bs);
        b[0] = 0x01; // WSNZ: a WRITE SAME of 0 blocks is refused rather than meaning "to the end"
        put16(b, 2, gran); // OPTIMAL TRANSFER LENGTH GRANULARITY
        put32(b, 4, MAX_TRANSFER_BYTES / bs); // MAXIMUM TRANSFER LENGTH
        // OPTIMAL TRANSFER LENGTH: a whole number of physical blocks, or Linux ignores it ("not a
        // multiple of preferred minimum block size").
        put32(b, 8, (MAX_TRANSFER_BYTES / bs) & ~(long) (gran - 1));
        if (thin) {
            put32(b, 16, MAX_UNMAP_BYTES / bs); // MAXIMUM UNMAP LBA COUNT
            put32(b, 20, MAX_UNMAP_DESCRIPTORS); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
            put32(b, 24, gran); // OPTIMAL UNMAP GRANULARITY
            put32(b, 28, 0x80000000L); // UGAVALID, alignment 0
        }
        put64(b, 32, MAX_UNMAP_BYTES / bs); // MAXIMUM WRITE SAME LENGTH
        return b;
    }

    private byte[] readCapacity16() {
        byte[] r = new byte[32];
        put64(r, 0, capacity - 1);
        put32(r, 8, bs);
        r[13] = (byte) Integer.numberOfTrailingZeros(Math.max(1, GRANULARITY_BYTES / bs)); // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
        if (thin) r[14] = (byte) 0x80; // LBPME
        return r;
    }

    // ---- MODE SENSE ---------------------------------------------------------------------------

    private ScsiResult modeSense(byte[] cdb, boolean ten, boolean dbd, boolean llbaa, int alloc, DataBuffer in) {
        int pc = u8(cdb, 2) >>> 6;
        int page = cdb[2] & 0x3F;
        int sub = u8(cdb, 3);
        if (pc == 3) throw new Check(Sense.SAVING_PARAMETERS_NOT_SUPPORTED);
        boolean changeable = pc == 1;
        byte[] pages = switch (page) {
            case 0x08 -> { if (sub != 0) throw new Check(Sense.invalidFieldInCdb(3, -1)); yield cachingPage(changeable); }
            case 0x0A -> { if (sub != 0) throw new Check(Sense.invalidFieldInCdb(3, -1)); yield controlPage(changeable); }
            case 0x3F -> {
                if (sub != 0 && sub != 0xFF) throw new Check(Sense.invalidFieldInCdb(3, -1));
                byte[] a = cachingPage(changeable), b = controlPage(changeable);
                byte[] all = Arrays.copyOf(a, a.length + b.length);
                System.arraycopy(b, 0, all, a.length, b.length);
                yield all;
            }
            default -> throw new Check(Sense.invalidFieldInCdb(2, 5));
        };
        byte[] desc;
        if (dbd) {
            desc = new byte[0];
        } else if (ten && llbaa) {
            desc = new byte[16];
            put64(desc, 0, capacity);
            put32(desc, 12, bs);
        } else {
            desc = new byte[8];
            long n = Math.min(capacity, 0xFFFFFF);
            desc[1] = (byte) (n >> 16);
            desc[2] = (byte) (n >> 8);
            desc[3] = (byte) n;
            desc[5] = (byte) (bs >> 16);
            desc[6] = (byte) (bs >> 8);
            desc[7] = (byte) bs;
        }
        int hdr = ten ? 8 : 4;
        byte[] r = new byte[hdr + desc.length + pages.length];
        int deviceSpecific = (store.readOnly() ? 0x80 : 0) | 0x10; // WP, DPOFUA
        if (ten) {
            put16(r, 0, r.length - 2);
            r[3] = (byte) deviceSpecific;
            r[4] = (byte) (desc.length == 16 ? 1 : 0); // LONGLBA
            put16(r, 6, desc.length);
        } else {
            r[0] = (byte) (r.length - 1);
            r[2] = (byte) deviceSpecific;
            r[3] = (byte) desc.length;
        }
        System.arraycopy(desc, 0, r, hdr, desc.length);
        System.arraycopy(pages, 0, r, hdr + desc.length, pages.length);
        return reply(r, alloc, in);
    }

    /** Caching mode page (08h): WCE as configured, read cache on; nothing changeable (no MODE SELECT). */
    private byte[] cachingPage(boolean changeable) {
        byte[] p = new byte[20];
        p[0] = 0x08;
        p[1] = 0x12;
        if (!changeable && config.writeCache()) p[2] = 0x04; // WCE
        return p;
    }

    /** Control mode page (0Ah): fixed-format sense, unrestricted reordering, nothing changeable. */
    private byte[] controlPage(boolean changeable) {
        byte[] p = new byte[12];
        p[0] = 0x0A;
        p[1] = 0x0A;
        if (!changeable) p[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted
        return p;
    }

    // ---- data transfers ---------------------------------------------------------------------

    /** READ/WRITE (10/12/16) byte 1: RDPROTECT/WRPROTECT must be 0 (no protection information). */
    private static void rwFlags(byte[] cdb, boolean write) {
        if ((cdb[1] & 0xE0) != 0) throw new Check(Sense.invalidFieldInCdb(1, 7));
        if (write && (cdb[1] & 0x04) != 0) throw new Check(Sense.invalidFieldInCdb(1, 2)); // reserved in WRITE
    }

    private void checkRange(long lba, long blocks) {
        if (Long.compareUnsigned(lba, capacity) > 0 || Long.compareUnsigned(blocks, capacity - lba) > 0) {
            throw new Check(Sense.LBA_OUT_OF_RANGE);
        }
    }

    /** Checks a READ/WRITE; null when it moves nothing (0 blocks: GOOD at once). */
    private Transfer plan(boolean write, long lba, long blocks, boolean fua, int lenByte, DataBuffer out, DataBuffer in) {
        if (write && store.readOnly()) throw new Check(Sense.WRITE_PROTECTED);
        checkRange(lba, blocks);
        if (blocks > MAX_TRANSFER_BYTES / bs) throw new Check(Sense.invalidFieldInCdb(lenByte, -1));
        long bytes = blocks * bs;
        DataBuffer buf = write ? out : in;
        if (buf.size() < bytes) throw new Overrun();
        return bytes == 0 ? null : new Transfer(write, lba * bs, bytes, fua);
    }

    private ScsiResult transfer(Transfer t, DataBuffer out, DataBuffer in) {
        long base = t.offset();
        try {
            if (t.write()) {
                out.forEach(0, t.bytes(), (off, piece) -> store.write(base + off, piece));
                if (t.fua()) store.flush();
            } else {
                in.forEach(0, t.bytes(), (off, piece) -> store.read(base + off, piece));
            }
        } catch (RuntimeException e) {
            throw new Check(t.write() ? Sense.WRITE_ERROR : Sense.READ_ERROR);
        }
        return transferDone(t, t.bytes(), out, in);
    }

    private ScsiResult synchronizeCache(long lba, long blocks, DataBuffer in) {
        checkRange(lba, blocks); // blocks 0 = "to the end": only the LBA must be inside
        if (!store.readOnly()) {
            try {
                store.flush();
            } catch (RuntimeException e) {
                throw new Check(Sense.INTERNAL_TARGET_FAILURE);
            }
        }
        return ScsiResult.good(0, in.size());
    }

    private ScsiResult writeSame(byte[] cdb, long lba, long blocks, int lenByte, boolean ndob, DataBuffer out, DataBuffer in) {
        if ((cdb[1] & 0xE0) != 0) throw new Check(Sense.invalidFieldInCdb(1, 7)); // WRPROTECT
        if ((cdb[1] & 0x10) != 0) throw new Check(Sense.invalidFieldInCdb(1, 4)); // ANCHOR: not supported
        if ((cdb[1] & 0x06) != 0) throw new Check(Sense.invalidFieldInCdb(1, 2)); // PBDATA / LBDATA: obsolete
        boolean unmap = (cdb[1] & 0x08) != 0;
        if (store.readOnly()) throw new Check(Sense.WRITE_PROTECTED);
        if (blocks == 0 || blocks > MAX_UNMAP_BYTES / bs) throw new Check(Sense.invalidFieldInCdb(lenByte, -1));
        checkRange(lba, blocks);
        byte[] block = new byte[bs];
        long used = 0;
        if (!ndob) {
            if (out.size() < bs) throw new Overrun();
            block = out.read(0, bs);
            used = bs;
        }
        boolean zero = true;
        for (byte b : block) if (b != 0) { zero = false; break; }
        long off = lba * bs, len = blocks * bs;
        try {
            if (zero) {
                store.writeZeroes(off, len, unmap && thin);
            } else {
                int chunkBlocks = (int) Math.min(blocks, (1 << 20) / bs);
                byte[] chunk = new byte[chunkBlocks * bs];
                for (int i = 0; i < chunkBlocks; i++) System.arraycopy(block, 0, chunk, i * bs, bs);
                for (long done = 0; done < len; ) {
                    long n = Math.min(chunk.length, len - done);
                    store.write(off + done, MemorySegment.ofArray(chunk).asSlice(0, n));
                    done += n;
                }
            }
        } catch (RuntimeException e) {
            throw new Check(Sense.WRITE_ERROR);
        }
        return ScsiResult.good(0, out.size() - used);
    }

    private ScsiResult unmap(byte[] cdb, DataBuffer out, DataBuffer in) {
        reserved(cdb, 1, 0xFE, 2, 0xFF, 3, 0xFF, 4, 0xFF, 5, 0xFF, 6, 0xE0);
        if (!config.unmap()) throw new Check(Sense.INVALID_OPCODE); // LBPU not reported
        if ((cdb[1] & 0x01) != 0) throw new Check(Sense.invalidFieldInCdb(1, 0)); // ANCHOR: not supported
        if (store.readOnly()) throw new Check(Sense.WRITE_PROTECTED);
        int plen = u16(cdb, 7);
        if (plen == 0) return ScsiResult.good(0, out.size());
        if (plen < 8) throw new Check(Sense.PARAMETER_LIST_LENGTH_ERROR);
        if (out.size() < plen) throw new Overrun();
        byte[] p = out.read(0, plen);
        int bdl = u16(p, 2);
        if (bdl + 8 > plen) throw new Check(Sense.PARAMETER_LIST_LENGTH_ERROR);
        int count = bdl / 16;
        if (count > MAX_UNMAP_DESCRIPTORS) throw new Check(Sense.invalidFieldInParameterList(2));
        long[] lbas = new long[count], nums = new long[count];
        for (int i = 0; i < count; i++) { // validate every descriptor before touching the disk
            int at = 8 + 16 * i;
            lbas[i] = u64(p, at);
            nums[i] = u32(p, at + 8);
            if (nums[i] > MAX_UNMAP_BYTES / bs) throw new Check(Sense.invalidFieldInParameterList(at + 8));
            checkRange(lbas[i], nums[i]);
        }
        try {
            for (int i = 0; i < count; i++) if (nums[i] > 0) store.discard(lbas[i] * bs, nums[i] * bs);
        } catch (RuntimeException e) {
            throw new Check(Sense.INTERNAL_TARGET_FAILURE);
        }
        return ScsiResult.good(0, out.size() - plen);
    }

    private ScsiResult startStop(byte[] cdb, DataBuffer in) {
        reserved(cdb, 1, 0xFE, 2, 0xFF, 3, 0xF0, 4, 0x08);
        boolean start = (cdb[4] & 0x01) != 0, noFlush = (cdb[4] & 0x04) != 0;
        int power = u8(cdb, 4) >>> 4;
        // A disk that is never really stopped: a STOP (power condition START_VALID) flushes, as a real
        // one writes back its cache before spinning down; every other request is a no-op.
        if (power == 0 && !start && !noFlush && !store.readOnly()) {
            try {
                store.flush();
            } catch (RuntimeException e) {
                throw new Check(Sense.INTERNAL_TARGET_FAILURE);
            }
        }
        return ScsiResult.good(0, in.size());
    }

    // ---- REPORT LUNS (shared with ScsiTarget) --------------------------------------------------

    static ScsiResult reportLuns(byte[] cdb, int[] luns, DataBuffer in) {
        reserved(cdb, 1, 0xFF, 3, 0xFF, 4, 0xFF, 5, 0xFF, 10, 0xFF);
        int select = u8(cdb, 2);
        long alloc = u32(cdb, 6);
        if (alloc < 16) throw new Check(Sense.invalidFieldInCdb(6, -1));
        int[] list = switch (select) {
            case 0x00, 0x02 -> luns;
            case 0x01, 0x10, 0x11, 0x12 -> new int[0]; // well-known / administrative: we have none
            default -> throw new Check(Sense.invalidFieldInCdb(2, -1));
        };
        byte[] r = new byte[8 + 8 * list.length];
        put32(r, 0, 8L * list.length);
        for (int i = 0; i < list.length; i++) {
            int lun = list[i];
            if (lun < 256) {
                r[8 + 8 * i + 1] = (byte) lun; // peripheral device addressing
            } else {
                r[8 + 8 * i] = (byte) (0x40 | (lun >> 8)); // flat space addressing
                r[8 + 8 * i + 1] = (byte) lun;
            }
        }
        return reply(r, alloc, in);
    }

    /** CHECK CONDITION for a refused command (for {@link ScsiTarget}). */
    static ScsiResult refuse(Sense s, DataBuffer out, DataBuffer in) {
        return ScsiResult.check(s, in.size() > 0 ? in.size() : out.size());
    }

    /** Runs {@code body}, turning its refusals into CHECK CONDITION (for {@link ScsiTarget}). */
    static ScsiResult guarded(java.util.function.Supplier<ScsiResult> body, DataBuffer out, DataBuffer in) {
        try {
            return body.get();
        } catch (Check c) {
            return refuse(c.sense, out, in);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    /** Copies at most {@code alloc} bytes of {@code data} (and what fits) into the data-in buffer. */
    static ScsiResult reply(byte[] data, long alloc, DataBuffer in) {
        byte[] d = data.length > alloc ? Arrays.copyOf(data, (int) alloc) : data;
        long n = in.write(0, d);
        return ScsiResult.good(n, in.size() - n);
    }

    /** Pairs of (byte index, mask of reserved bits): any set bit is INVALID FIELD IN CDB. */
    static void reserved(byte[] cdb, int... pairs) {
        for (int i = 0; i < pairs.length; i += 2) {
            int bad = cdb[pairs[i]] & pairs[i + 1];
            if (bad != 0) throw new Check(Sense.invalidFieldInCdb(pairs[i], 31 - Integer.numberOfLeadingZeros(bad)));
        }
    }

    static int u8(byte[] b, int i) { return b[i] & 0xFF; }

    static int u16(byte[] b, int i) { return (u8(b, i) << 8) | u8(b, i + 1); }

    static long u32(byte[] b, int i) { return ((long) u16(b, i) << 16) | u16(b, i + 2); }

    static long u64(byte[] b, int i) { return (u32(b, i) << 32) | u32(b, i + 4); }

    static void put16(byte[] b, int i, int v) {
        b[i] = (byte) (v >> 8);
        b[i + 1] = (byte) v;
    }

    static void put32(byte[] b, int i, long v) {
        for (int k = 0; k < 4; k++) b[i + k] = (byte) (v >> (24 - 8 * k));
    }

    static void put64(byte[] b, int i, long v) {
        for (int k = 0; k < 8; k++) b[i + k] = (byte) (v >> (56 - 8 * k));
    }

    /** Space-padded ASCII field. */
    static void ascii(byte[] b, int at, int len, String s) {
        Arrays.fill(b, at, at + len, (byte) ' ');
        byte[] a = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(a, 0, b, at, Math.min(len, a.length));
    }
}
