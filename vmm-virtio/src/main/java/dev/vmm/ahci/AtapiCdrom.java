package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import dev.vmm.scsi.Sense;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An ATAPI CD/DVD-ROM drive (MMC-6 over the ATA PACKET command) with a removable medium. Answers
 * IDENTIFY PACKET DEVICE, SET FEATURES and PACKET; IDENTIFY DEVICE is aborted with the packet
 * signature, as ATA says a packet device must. Packet commands: see {@link #packet}. Sense data
 * comes from {@link Sense} (the SCSI target's fixed-format builder); ATAPI has no autosense, so the
 * sense of a failed command is kept for the REQUEST SENSE the host sends next.
 *
 * <p>Media change from the host: {@link #insert} / {@link #eject} (the VMM's QMP
 * {@code blockdev-change-medium} and {@code eject}). A new medium raises UNIT ATTENTION 28/00 on the
 * next command and a NEW MEDIA event for GET EVENT STATUS NOTIFICATION; a removal a MEDIA REMOVAL
 * event. The guest's START STOP UNIT only opens and closes the tray (no event, no unit attention, as
 * QEMU 7.2). Thread-safe: commands run on the port's I/O job, media changes on a control thread.
 */
public final class AtapiCdrom implements AhciDrive {
    public static final int BLOCK = 2048;
    /** PxSIG of a packet device (ATA8-ACS table 206). */
    public static final int SIGNATURE = 0xEB14_0101;
    /** Largest CD (80 min) in 2048-byte blocks; bigger media are reported as DVD-ROM. */
    static final long CD_MAX_BLOCKS = 80L * 60 * 75;

    // MMC operation codes.
    static final int TEST_UNIT_READY = 0x00;
    static final int REQUEST_SENSE = 0x03;
    static final int INQUIRY = 0x12;
    static final int START_STOP_UNIT = 0x1B;
    static final int PREVENT_ALLOW = 0x1E;
    static final int READ_CAPACITY = 0x25;
    static final int READ_10 = 0x28;
    static final int READ_TOC = 0x43;
    static final int GET_CONFIGURATION = 0x46;
    static final int GET_EVENT_STATUS = 0x4A;
    static final int MODE_SENSE_10 = 0x5A;
    static final int READ_12 = 0xA8;

    static final Sense MEDIUM_NOT_PRESENT = new Sense(Sense.NOT_READY, 0x3A, 0x00, -1, -1, false);
    static final Sense MEDIUM_MAY_HAVE_CHANGED = new Sense(Sense.UNIT_ATTENTION, 0x28, 0x00, -1, -1, false);
    static final Sense REMOVAL_PREVENTED = new Sense(Sense.ILLEGAL_REQUEST, 0x53, 0x02, -1, -1, false);

    /** Media event codes (MMC-6 table 150). */
    static final int EVENT_NONE = 0, EVENT_EJECT_REQUEST = 1, EVENT_NEW_MEDIA = 2, EVENT_MEDIA_REMOVAL = 3;

    private final String model;
    private final String serial;
    private BlockDevice medium; // the medium in the drive (null: none); hidden while the tray is open
    private boolean trayOpen;
    private boolean locked;
    private boolean unitAttention;
    private int mediaEvent = EVENT_NONE;
    private Sense sense = Sense.NONE;

    public AtapiCdrom(BlockDevice medium, String serial) {
        this.model = "VMM DVD-ROM";
        this.serial = Identify.clean(serial, 20);
        this.medium = medium;
    }

    @Override public int signature() { return SIGNATURE; }

    /** 70h after a reset, as QEMU 7.2's IDE core reports a CD-ROM (checked by AhciQemuBehaviourTest). */
    @Override public int resetStatus() { return AtaResult.DRDY | AtaResult.DF | AtaResult.DSC; }

    @Override public String kind() { return "cdrom"; }

    // ---- media change (QMP) ---------------------------------------------------------------------

    /**
     * Inserts {@code newMedium} (closing the tray); the previous medium, if any, is returned for the
     * caller to close. The guest sees UNIT ATTENTION and a NEW MEDIA event.
     */
    public synchronized BlockDevice insert(BlockDevice newMedium) {
        BlockDevice old = medium;
        medium = newMedium;
        trayOpen = false;
        unitAttention = true;
        mediaEvent = EVENT_NEW_MEDIA;
        return old;
    }

    /**
     * Removes the medium as QMP {@code eject} does. Refused (returns false, nothing changes, an
     * eject request event is queued for the guest) while the guest holds the medium locked, unless
     * {@code force}. On success the removed medium is closed by the caller: see {@link #lastEjected}.
     */
    public synchronized boolean eject(boolean force) {
        if (locked && !force) {
            mediaEvent = EVENT_EJECT_REQUEST;
            return false;
        }
        lastEjected = medium;
        medium = null;
        trayOpen = true;
        locked = false;
        mediaEvent = EVENT_MEDIA_REMOVAL;
        return true;
    }

    private BlockDevice lastEjected;

    /** The medium the last successful {@link #eject} removed (null if none). */
    public synchronized BlockDevice lastEjected() { return lastEjected; }

    public synchronized boolean mediumPresent() { return medium != null && !trayOpen; }

    public synchronized boolean locked() { return locked; }

    public synchronized boolean trayOpen() { return trayOpen; }

    /** Drive state for snapshots (the medium itself is re-attached by the VMM). */
    public record State(boolean trayOpen, boolean locked, boolean unitAttention, int mediaEvent, int senseKey, int asc, int ascq) { }

    public synchronized State save() {
        return new State(trayOpen, locked, unitAttention, mediaEvent, sense.key(), sense.asc(), sense.ascq());
    }

    public synchronized void restore(State s) {
        trayOpen = s.trayOpen();
        locked = s.locked();
        unitAttention = s.unitAttention();
        mediaEvent = s.mediaEvent() & 0x0F;
        sense = new Sense(s.senseKey() & 0x0F, s.asc() & 0xFF, s.ascq() & 0xFF, -1, -1, false);
    }

    // ---- ATA level ------------------------------------------------------------------------------

    @Override
    public AtaResult execute(AtaCommand c, Prdt data) {
        return switch (c.command()) {
            case AtaCommand.IDENTIFY_PACKET_DEVICE -> {
                byte[] id = identifyPacket();
                AtaDisk.need(data, id.length);
                data.buffer.write(0, id);
                yield AtaResult.ok(id.length, AtaResult.Protocol.PIO_IN);
            }
            case AtaCommand.IDENTIFY_DEVICE -> // abort, leaving the packet signature in the registers
                    new AtaResult(AtaResult.STATUS_ERROR, AtaResult.ABRT, 0, AtaResult.Protocol.NON_DATA, 0xEB1401L, 1);
            case AtaCommand.SET_FEATURES -> {
                int sub = c.features() & 0xFF;
                yield sub == 0x03 || sub == 0x02 || sub == 0x82 || sub == 0x10 || sub == 0x90 || sub == 0x66 || sub == 0xCC
                        ? AtaResult.ok(0, AtaResult.Protocol.NON_DATA) : AtaResult.abort();
            }
            case AtaCommand.PACKET -> packet(c.cdb(), data, (c.features() & 0x01) != 0);
            default -> AtaResult.abort();
        };
    }

    /** IDENTIFY PACKET DEVICE data (ATA8-ACS table 45). */
    byte[] identifyPacket() {
        return new Identify()
                .set(0, 0x85C0) // ATAPI, CD-ROM (05h), removable, 12-byte packets, DRQ within 50 us
                .string(10, 10, serial)
                .string(23, 4, "1.0")
                .string(27, 20, model)
                .set(49, 0x0300) // LBA, DMA
                .set(53, 0x0007)
                .set(63, 0x0007)
                .set(64, 0x0003)
                .set(65, 120).set(66, 120).set(67, 120).set(68, 120)
                .set(76, 0x0002) // SATA Gen1
                .set(80, 0x01F0)
                .set(82, 0x0010) // PACKET feature set
                .set(83, 0x4000)
                .set(84, 0x4000)
                .set(85, 0x0010)
                .set(87, 0x4000)
                .set(88, 0x203F) // UDMA 0-5, mode 5 selected
                .bytes();
    }

    // ---- PACKET (MMC) ---------------------------------------------------------------------------

    /** A refused packet command: CHECK CONDITION with {@code s}, kept for REQUEST SENSE. */
    private static final class Check extends RuntimeException {
        final Sense sense;

        Check(Sense s) {
            super(s.toString(), null, false, false);
            this.sense = s;
        }
    }

    synchronized AtaResult packet(byte[] cdb, Prdt data, boolean dma) {
        AtaResult.Protocol proto = dma ? AtaResult.Protocol.DMA : AtaResult.Protocol.PIO_IN;
        int op = cdb[0] & 0xFF;
        try {
            // A pending unit attention fails every command but these (MMC-6 §4.1.6.1, SPC-4 §5.9).
            if (unitAttention && op != INQUIRY && op != REQUEST_SENSE && op != GET_EVENT_STATUS && op != GET_CONFIGURATION) {
                unitAttention = false;
                throw new Check(MEDIUM_MAY_HAVE_CHANGED);
            }
            byte[] reply = switch (op) {
                case TEST_UNIT_READY -> { media(); yield null; }
                case REQUEST_SENSE -> {
                    Sense s = unitAttention ? MEDIUM_MAY_HAVE_CHANGED
                            : sense.key() != Sense.NO_SENSE ? sense : mediumPresent() ? Sense.NONE : MEDIUM_NOT_PRESENT;
                    unitAttention = false;
                    sense = Sense.NONE;
                    byte[] fixed = s.fixed();
                    fixed[0] |= (byte) 0x80; // VALID, as QEMU 7.2 reports it
                    yield trim(fixed, u8(cdb, 4));
                }
                case INQUIRY -> {
                    if ((cdb[1] & 0x01) != 0 || cdb[2] != 0) throw new Check(Sense.invalidFieldInCdb(1, 0));
                    yield trim(inquiry(), u16(cdb, 3));
                }
                case READ_CAPACITY -> {
                    long blocks = media();
                    byte[] r = new byte[8];
                    put32(r, 0, blocks - 1);
                    put32(r, 4, BLOCK);
                    yield r;
                }
                case READ_10 -> { read(u32(cdb, 2), u16(cdb, 7), data); yield null; }
                case READ_12 -> { read(u32(cdb, 2), u32(cdb, 6), data); yield null; }
                case READ_TOC -> trim(readToc(cdb), u16(cdb, 7));
                case GET_CONFIGURATION -> trim(getConfiguration(cdb), u16(cdb, 7));
                case GET_EVENT_STATUS -> trim(eventStatus(cdb), u16(cdb, 7));
                case MODE_SENSE_10 -> trim(modeSense(cdb), u16(cdb, 7));
                case START_STOP_UNIT -> { startStop(cdb); yield null; }
                case PREVENT_ALLOW -> { locked = (cdb[4] & 0x01) != 0; yield null; }
                default -> throw new Check(Sense.INVALID_OPCODE);
            };
            if (op == READ_10 || op == READ_12) {
                long blocks = op == READ_10 ? u16(cdb, 7) : u32(cdb, 6);
                return packetOk(blocks * BLOCK, proto);
            }
            if (reply == null || reply.length == 0) return packetOk(0, AtaResult.Protocol.NON_DATA);
            AtaDisk.need(data, reply.length);
            data.buffer.write(0, reply);
            return packetOk(reply.length, proto);
        } catch (Check c) {
            if (op != REQUEST_SENSE) sense = c.sense;
            // ATAPI: ERR (CHK) in status, the sense key in error 7:4 (QEMU 7.2: status 41h, no ABRT bit).
            return new AtaResult(AtaResult.STATUS_ERROR, c.sense.key() << 4, 0, AtaResult.Protocol.NON_DATA, 0, 3);
        }
    }

    /** Successful packet command: interrupt reason I/O | C/D in the count register. */
    private static AtaResult packetOk(long bytes, AtaResult.Protocol p) {
        return new AtaResult(AtaResult.STATUS_OK, 0, bytes, p, 0, 3);
    }

    /** The medium's size in blocks, or NOT READY / MEDIUM NOT PRESENT. */
    private long media() {
        if (!mediumPresent()) throw new Check(MEDIUM_NOT_PRESENT);
        long blocks = medium.size() / BLOCK;
        if (blocks == 0) throw new Check(MEDIUM_NOT_PRESENT); // smaller than one block: nothing readable
        return blocks;
    }

    private void read(long lba, long blocks, Prdt data) {
        long capacity = media();
        if (lba > capacity || blocks > capacity - lba) throw new Check(Sense.LBA_OUT_OF_RANGE);
        long bytes = blocks * BLOCK;
        AtaDisk.need(data, bytes);
        long base = lba * BLOCK;
        BlockDevice m = medium;
        try {
            data.buffer.forEach(0, bytes, (off, piece) -> m.read(base + off, piece));
        } catch (RuntimeException e) {
            throw new Check(Sense.READ_ERROR);
        }
    }

    private byte[] inquiry() {
        byte[] r = new byte[36];
        r[0] = 0x05; // CD/DVD device
        r[1] = (byte) 0x80; // removable
        r[2] = 0x00; // version 0 and ATAPI version 2 / response data format 1, as ATAPI drives (and QEMU 7.2) report
        r[3] = 0x21;
        r[4] = 31;
        ascii(r, 8, 8, "VMM");
        ascii(r, 16, 16, model);
        ascii(r, 32, 4, "1.0");
        return r;
    }

    /** READ TOC/PMA/ATIP formats 0 (TOC) and 1 (session information), LBA or MSF addresses. */
    private byte[] readToc(byte[] cdb) {
        long blocks = media();
        boolean msf = (cdb[1] & 0x02) != 0;
        int format = cdb[2] & 0x0F;
        if (format == 0 && (cdb[9] & 0xC0) != 0) format = (cdb[9] & 0xC0) >> 6; // SFF-8020 format in the control byte
        int track = u8(cdb, 6);
        return switch (format) {
            case 0 -> {
                if (track > 1 && track != 0xAA) throw new Check(Sense.invalidFieldInCdb(6, -1));
                boolean withTrack1 = track <= 1;
                byte[] r = new byte[4 + (withTrack1 ? 8 : 0) + 8];
                put16(r, 0, r.length - 2);
                r[2] = 1; // first track
                r[3] = 1; // last track
                int at = 4;
                if (withTrack1) {
                    tocEntry(r, at, 1, 0, msf);
                    at += 8;
                }
                tocEntry(r, at, 0xAA, blocks, msf); // lead-out
                r[at + 1] = 0x16; // lead-out ADR/control as QEMU 7.2 reports it
                yield r;
            }
            case 1 -> {
                byte[] r = new byte[12];
                put16(r, 0, 10);
                r[2] = 1; // first session
                r[3] = 1; // last session
                tocEntry(r, 4, 1, 0, msf); // first track of the last session
                yield r;
            }
            default -> throw new Check(Sense.invalidFieldInCdb(2, -1));
        };
    }

    private static void tocEntry(byte[] r, int at, int track, long lba, boolean msf) {
        r[at + 1] = 0x14; // ADR 1 (current position), control 4: data track
        r[at + 2] = (byte) track;
        if (msf) {
            long f = lba + 150; // LBA 0 is 00:02:00
            r[at + 5] = (byte) (f / (75 * 60));
            r[at + 6] = (byte) (f / 75 % 60);
            r[at + 7] = (byte) (f % 75);
        } else {
            put32(r, at + 4, lba);
        }
    }

    /** GET CONFIGURATION: profile list, core, removable medium, random readable, CD read features. */
    private byte[] getConfiguration(byte[] cdb) {
        int rt = cdb[1] & 0x03;
        int start = u16(cdb, 2);
        if (rt == 3) throw new Check(Sense.invalidFieldInCdb(1, 1));
        boolean present = mediumPresent();
        long blocks = present ? medium.size() / BLOCK : 0;
        int profile = !present ? 0 : blocks > CD_MAX_BLOCKS ? 0x0010 : 0x0008;
        byte[][] features = {
            feature(0x0000, true, new byte[] {0x00, 0x10, (byte) (profile == 0x0010 ? 1 : 0), 0, 0x00, 0x08, (byte) (profile == 0x0008 ? 1 : 0), 0}),
            feature(0x0001, true, new byte[] {0, 0, 0, 0x02, 0, 0, 0, 0}), // core: ATAPI
            feature(0x0003, true, new byte[] {0x29, 0, 0, 0}), // tray loading, eject, lock supported
            feature(0x0010, present, new byte[] {0, 0, 0x08, 0, 0, 1, 0, 0}), // random readable, 2048-byte blocks
            feature(0x001E, profile == 0x0008, new byte[] {0, 0, 0, 0}), // CD read
        };
        byte[] r = new byte[8];
        put16(r, 6, profile);
        for (byte[] f : features) {
            int code = u16(f, 0);
            boolean current = (f[2] & 0x01) != 0;
            boolean wanted = rt == 2 ? code == start : code >= start && (rt == 0 || current);
            if (!wanted) continue;
            byte[] n = Arrays.copyOf(r, r.length + f.length);
            System.arraycopy(f, 0, n, r.length, f.length);
            r = n;
        }
        put32(r, 0, r.length - 4);
        return r;
    }

    private static byte[] feature(int code, boolean current, byte[] body) {
        byte[] f = new byte[4 + body.length];
        put16(f, 0, code);
        f[2] = (byte) ((code == 0 ? 0 : 0x04) | 0x02 | (current ? 0x01 : 0)); // version, persistent, current
        if (code == 0x0000) f[2] = (byte) 0x03;
        f[3] = (byte) body.length;
        System.arraycopy(body, 0, f, 4, body.length);
        return f;
    }

    /** GET EVENT STATUS NOTIFICATION, polled only; the media class is the one supported. */
    private byte[] eventStatus(byte[] cdb) {
        if ((cdb[1] & 0x01) == 0) throw new Check(Sense.invalidFieldInCdb(1, 0)); // asynchronous operation: not supported
        boolean media = (cdb[4] & 0x10) != 0;
        if (!media) {
            return new byte[] {0, 0, (byte) 0x80, 0x10}; // NEA: no event of a requested class; supports: media
        }
        byte[] r = new byte[8];
        put16(r, 0, 4); // event data length: the bytes after the 4-byte header
        r[2] = 0x04; // media class
        r[3] = 0x10;
        r[4] = (byte) mediaEvent;
        r[5] = (byte) ((trayOpen ? 0x01 : 0) | (mediumPresent() ? 0x02 : 0));
        mediaEvent = EVENT_NONE;
        return r;
    }

    /** MODE SENSE(10): read error recovery (01h) and capabilities (2Ah) pages; 3Fh returns both. */
    private byte[] modeSense(byte[] cdb) {
        int pc = u8(cdb, 2) >>> 6;
        int page = cdb[2] & 0x3F;
        if (pc == 3) throw new Check(Sense.SAVING_PARAMETERS_NOT_SUPPORTED);
        boolean changeable = pc == 1;
        byte[] recovery = {0x01, 0x06, 0, (byte) (changeable ? 0 : 5), 0, 0, 0, 0};
        byte[] caps = new byte[22];
        caps[0] = 0x2A;
        caps[1] = 20;
        if (!changeable) {
            // The values QEMU 7.2 reports (checked by AhciQemuBehaviourTest).
            caps[2] = 0x3B; // reads CD-R, CD-RW, method 2, DVD-ROM
            caps[4] = 0x71; // audio play, mode 2 form 1 and 2, multi-session
            caps[5] = 0x60; // ISRC, UPC
            caps[6] = (byte) (0x29 | (locked ? 0x02 : 0)); // tray, eject, lock supported (+ locked)
            put16(caps, 8, 704); // max read speed (kB/s)
            put16(caps, 10, 2); // volume levels
            put16(caps, 12, 512); // buffer size (KiB)
            put16(caps, 14, 704); // current read speed
        }
        byte[] pages = switch (page) {
            case 0x01 -> recovery;
            case 0x2A -> caps;
            case 0x3F -> {
                byte[] all = Arrays.copyOf(recovery, recovery.length + caps.length);
                System.arraycopy(caps, 0, all, recovery.length, caps.length);
                yield all;
            }
            default -> throw new Check(Sense.invalidFieldInCdb(2, 5));
        };
        byte[] r = new byte[8 + pages.length];
        put16(r, 0, r.length - 2);
        r[2] = 0x70; // medium type: what QEMU 7.2 reports, medium or not
        System.arraycopy(pages, 0, r, 8, pages.length);
        return r;
    }

    private void startStop(byte[] cdb) {
        boolean loej = (cdb[4] & 0x02) != 0, start = (cdb[4] & 0x01) != 0;
        if (!loej) return; // spin up / down: nothing to do for a virtual drive
        // The guest's own eject and load move the tray with the same medium on it: no media event and
        // no unit attention, as QEMU 7.2 (those are for media changed from the host, insert/eject).
        if (start) {
            trayOpen = false;
            return;
        }
        if (locked) throw new Check(REMOVAL_PREVENTED);
        trayOpen = true;
    }

    // ---- helpers --------------------------------------------------------------------------------

    private static byte[] trim(byte[] r, long alloc) {
        return r.length > alloc ? Arrays.copyOf(r, (int) alloc) : r;
    }

    static int u8(byte[] b, int i) { return b[i] & 0xFF; }

    static int u16(byte[] b, int i) { return u8(b, i) << 8 | u8(b, i + 1); }

    static long u32(byte[] b, int i) { return (long) u16(b, i) << 16 | u16(b, i + 2); }

    static void put16(byte[] b, int i, int v) {
        b[i] = (byte) (v >> 8);
        b[i + 1] = (byte) v;
    }

    static void put32(byte[] b, int i, long v) {
        for (int k = 0; k < 4; k++) b[i + k] = (byte) (v >> (24 - 8 * k));
    }

    private static void ascii(byte[] b, int at, int len, String s) {
        Arrays.fill(b, at, at + len, (byte) ' ');
        byte[] a = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(a, 0, b, at, Math.min(len, a.length));
    }
}
