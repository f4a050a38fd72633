package dev.vmm.ahci;

import dev.vmm.scsi.Sense;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ATAPI CD-ROM's packet commands as a guest sees them through the HBA: data-in bytes and PRDBC,
 * the ending task file (status 41h and the sense key in the error register's high nibble for CHECK
 * CONDITION, as QEMU 7.2), the sense data REQUEST SENSE returns afterwards, and media state. The
 * expected values come from the specifications: MMC-6 (READ TOC §6.39, GET CONFIGURATION §6.6 and
 * its features §5.3, GET EVENT STATUS NOTIFICATION §6.7, MODE SENSE's capabilities page §7.2/§6.3
 * (Annex), START STOP UNIT §6.42, PREVENT ALLOW MEDIUM REMOVAL §6.28), SPC-4 (INQUIRY §6.4, REQUEST
 * SENSE §6.27, fixed sense format §4.5.3, unit attention §5.9) and ATA8-ACS (IDENTIFY DEVICE on a
 * packet device §7.16, the PACKET feature set signature table 206). The medium is a
 * {@link PatternDisk}, so any size costs nothing.
 */
@Timeout(60)
class AtapiCdromCommandsTest {
    private AhciRig rig;
    private AtapiCdrom cd;
    private PatternDisk medium;
    private AhciDriver.Port port;

    private void setUp(long mediumBytes) {
        medium = mediumBytes < 0 ? null : new PatternDisk(mediumBytes);
        cd = new AtapiCdrom(medium, "CD-T");
        rig = new AhciRig(AhciIo.inline(), cd);
        port = rig.startPort(0);
    }

    @AfterEach
    void tearDown() {
        if (rig != null) rig.close();
    }

    private AhciDriver.Result packet(byte[] cdb, long buf, int len) {
        return port.packet(0, cdb, buf, len);
    }

    /** A packet command that must succeed: the bytes it moved (PRDBC of them). */
    private byte[] ok(byte[] cdb, int len) {
        long buf = rig.buffer(Math.max(len, 1));
        AhciDriver.Result r = packet(cdb, buf, len);
        assertFalse(r.failed(), String.format("packet %02x failed: %s", cdb[0], r));
        assertEquals(AtaResult.STATUS_OK, r.status());
        assertEquals(0, r.error());
        return rig.read(buf, r.prdbc());
    }

    /** A packet command that must fail: {sense key, ASC, ASCQ} from the REQUEST SENSE after recovery. */
    private int[] check(byte[] cdb, int len) {
        AhciDriver.Result r = packet(cdb, rig.buffer(Math.max(len, 1)), len);
        assertTrue(r.failed(), String.format("packet %02x should have failed", cdb[0]));
        assertEquals(AtaResult.STATUS_ERROR, r.status(), "DRDY | ERR (CHK)");
        port.recover();
        byte[] s = ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18);
        assertEquals(r.error(), (s[2] & 0x0F) << 4, "error register = sense key << 4, no other bit");
        return new int[] {s[2] & 0x0F, s[12] & 0xFF, s[13] & 0xFF};
    }

    private static void assertSense(Sense expected, int[] got) {
        assertArrayEquals(new int[] {expected.key(), expected.asc(), expected.ascq()}, got,
                String.format("sense %x/%02x/%02x", got[0], got[1], got[2]));
    }

    private static byte[] cdb10(int op, int b1, long lba, int len) {
        return new byte[] {(byte) op, (byte) b1, (byte) (lba >> 24), (byte) (lba >> 16), (byte) (lba >> 8), (byte) lba, 0,
                (byte) (len >> 8), (byte) len, 0, 0, 0};
    }

    private static byte[] cdb12(int op, long lba, long len) {
        return new byte[] {(byte) op, 0, (byte) (lba >> 24), (byte) (lba >> 16), (byte) (lba >> 8), (byte) lba,
                (byte) (len >> 24), (byte) (len >> 16), (byte) (len >> 8), (byte) len, 0, 0};
    }

    private static byte[] readToc(int msf, int format, int track, int alloc, int control) {
        return new byte[] {AtapiCdrom.READ_TOC, (byte) msf, (byte) format, 0, 0, 0, (byte) track, (byte) (alloc >> 8), (byte) alloc,
                (byte) control, 0, 0};
    }

    private static int u16(byte[] b, int i) { return (b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF); }

    private static long u32(byte[] b, int i) { return (long) u16(b, i) << 16 | u16(b, i + 2); }

    private static final byte[] TUR = new byte[12];

    @Test
    void readsReturnTheMediumAndStopAtItsEnd() {
        long blocks = 100;
        setUp(blocks * 2048);
        assertArrayEquals(PatternDisk.bytes(5 * 2048L, 3 * 2048), ok(cdb10(AtapiCdrom.READ_10, 0, 5, 3), 3 * 2048));
        // READ(12): 32-bit transfer length; the last two blocks exactly.
        assertArrayEquals(PatternDisk.bytes((blocks - 2) * 2048, 2 * 2048), ok(cdb12(AtapiCdrom.READ_12, blocks - 2, 2), 2 * 2048));
        // Zero blocks: nothing moves and no check condition (MMC-6 §6.19: a transfer length of 0 is not an error).
        assertEquals(0, ok(cdb10(AtapiCdrom.READ_10, 0, 0, 0), 0).length);
        // Past the end: LOGICAL BLOCK ADDRESS OUT OF RANGE, for a start beyond it and a range crossing it.
        assertSense(Sense.LBA_OUT_OF_RANGE, check(cdb10(AtapiCdrom.READ_10, 0, blocks, 1), 2048));
        assertSense(Sense.LBA_OUT_OF_RANGE, check(cdb10(AtapiCdrom.READ_10, 0, blocks + 1, 0), 2048));
        assertSense(Sense.LBA_OUT_OF_RANGE, check(cdb12(AtapiCdrom.READ_12, blocks - 1, 2), 4096));
        assertSense(Sense.LBA_OUT_OF_RANGE, check(cdb12(AtapiCdrom.READ_12, 0xFFFF_FFFFL, 1), 2048));
        // The medium fails: MEDIUM ERROR / UNRECOVERED READ ERROR.
        medium.failing = true;
        assertSense(Sense.READ_ERROR, check(cdb10(AtapiCdrom.READ_10, 0, 0, 1), 2048));
        medium.failing = false;
        // READ CAPACITY: the last LBA and the block size.
        byte[] cap = ok(new byte[] {AtapiCdrom.READ_CAPACITY, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);
        assertEquals(blocks - 1, u32(cap, 0));
        assertEquals(2048, u32(cap, 4));
        // A PIO packet command (features bit 0 clear): the data and a PIO Setup FIS.
        long buf = rig.buffer(2048);
        AhciDriver.Result r = port.issue(1, new AhciDriver.Cmd(AhciDriver.h2d(AtaCommand.PACKET, 0, 0, 0, 0),
                Arrays.copyOf(cdb10(AtapiCdrom.READ_10, 0, 7, 1), 16), new long[][] {{buf, 2048}}, false, true));
        assertFalse(r.failed());
        assertEquals(2048, r.prdbc());
        assertEquals(Fis.TYPE_PIO_SETUP, r.pio()[0] & 0xFF, "PIO data-in posts a PIO Setup FIS");
        assertTrue((r.is() & AhciPort.IS_PSS) != 0);
        assertArrayEquals(PatternDisk.bytes(7 * 2048L, 2048), rig.read(buf, 2048));
        // The interrupt reason (count register) of a finished packet command: I/O | C/D.
        assertEquals(3, r.d2h()[12]);
    }

    @Test
    void readTocFormatsAndAddresses() {
        long blocks = 4500 * 2 + 75 + 3; // 2 minutes 1 second 3 frames of data
        setUp(blocks * 2048);
        byte[] toc = ok(readToc(0, 0, 0, 0xFFFF, 0), 0xFFFF);
        assertEquals(20, toc.length);
        assertEquals(18, u16(toc, 0), "TOC data length");
        assertEquals(1, toc[2]);
        assertEquals(1, toc[3]);
        assertEquals(0x14, toc[5], "track 1: ADR 1, data track");
        assertEquals(1, toc[6]);
        assertEquals(0, u32(toc, 8), "track 1 at LBA 0");
        assertEquals(0x16, toc[13], "lead-out ADR/control as QEMU 7.2");
        assertEquals(0xAA, toc[14] & 0xFF);
        assertEquals(blocks, u32(toc, 16), "lead-out at the medium's end");
        // MSF: LBA + 150 frames, 75 frames a second, 60 seconds a minute.
        byte[] msf = ok(readToc(0x02, 0, 1, 0xFFFF, 0), 0xFFFF);
        assertArrayEquals(new byte[] {0, 0, 2, 0}, Arrays.copyOfRange(msf, 8, 12), "track 1 at 00:02:00");
        long f = blocks + 150;
        assertArrayEquals(new byte[] {0, (byte) (f / 4500), (byte) (f / 75 % 60), (byte) (f % 75)}, Arrays.copyOfRange(msf, 16, 20));
        // Starting at the lead-out: the lead-out alone.
        byte[] leadOut = ok(readToc(0, 0, 0xAA, 0xFFFF, 0), 0xFFFF);
        assertEquals(12, leadOut.length);
        assertEquals(10, u16(leadOut, 0));
        assertEquals(0xAA, leadOut[6] & 0xFF);
        // Track 2 does not exist.
        assertSense(Sense.invalidFieldInCdb(6, -1), check(readToc(0, 0, 2, 0xFFFF, 0), 64));
        // Format 1, session information; also as the SFF-8020 format in the control byte (bits 7:6).
        byte[] session = ok(readToc(0, 1, 0, 0xFFFF, 0), 0xFFFF);
        assertArrayEquals(new byte[] {0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0}, session);
        assertArrayEquals(session, ok(readToc(0, 0, 0, 0xFFFF, 0x40), 0xFFFF));
        byte[] sessionMsf = ok(readToc(0x02, 1, 0, 0xFFFF, 0), 0xFFFF);
        assertArrayEquals(new byte[] {0, 2, 0}, Arrays.copyOfRange(sessionMsf, 9, 12));
        // Format 2 (full TOC) is not offered; the allocation length trims.
        assertSense(Sense.invalidFieldInCdb(2, -1), check(readToc(0, 2, 0, 0xFFFF, 0), 64));
        assertEquals(4, ok(readToc(0, 0, 0, 4, 0), 4).length);
    }

    @Test
    void inquiryAndRequestSense() {
        setUp(64 * 2048);
        byte[] inq = ok(new byte[] {AtapiCdrom.INQUIRY, 0, 0, 0, 96, 0}, 96);
        assertEquals(36, inq.length, "standard data, 36 bytes");
        assertArrayEquals(new byte[] {5, (byte) 0x80, 0, 0x21, 31}, Arrays.copyOf(inq, 5), "CD/DVD, removable, format 1, 31 more");
        assertEquals("VMM     VMM DVD-ROM     1.0 ", new String(inq, 8, 28, StandardCharsets.US_ASCII));
        assertEquals(5, ok(new byte[] {AtapiCdrom.INQUIRY, 0, 0, 0, 5, 0}, 5).length, "allocation length");
        assertSense(Sense.invalidFieldInCdb(1, 0), check(new byte[] {AtapiCdrom.INQUIRY, 1, 0, 0, 96, 0}, 96)); // EVPD
        assertSense(Sense.invalidFieldInCdb(1, 0), check(new byte[] {AtapiCdrom.INQUIRY, 0, (byte) 0x80, 0, 96, 0}, 96)); // page
        // REQUEST SENSE with nothing pending: NO SENSE, VALID, fixed format, 10 more bytes; trimmed to 8.
        byte[] none = ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18);
        assertEquals(18, none.length);
        assertEquals(0xF0, none[0] & 0xFF);
        assertEquals(0, none[2]);
        assertEquals(10, none[7]);
        assertEquals(8, ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 8, 0}, 8).length);
        // An unknown operation code.
        assertSense(Sense.INVALID_OPCODE, check(new byte[] {(byte) 0xFF, 0, 0, 0, 0, 0}, 0));
        // The sense is reported once: the next REQUEST SENSE is NO SENSE again.
        assertEquals(0, ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18)[2]);
    }

    @Test
    void ataCommandsOnThePacketDevice() {
        setUp(64 * 2048);
        // IDENTIFY DEVICE: aborted, with the packet signature in LBA 23:0 and count (ATA8-ACS §7.16, table 206).
        AhciDriver.Result r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_DEVICE, 0, 0, 0, 0), false,
                new long[] {rig.buffer(512), 512}));
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error());
        assertArrayEquals(new byte[] {0x01, 0x14, (byte) 0xEB}, Arrays.copyOfRange(r.d2h(), 4, 7));
        assertEquals(1, r.d2h()[12]);
        port.recover();
        // IDENTIFY PACKET DEVICE: general configuration, serial, capabilities, checksum.
        long buf = rig.buffer(512);
        r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_PACKET_DEVICE, 0, 0, 0, 0), false, new long[] {buf, 512}));
        assertFalse(r.failed());
        byte[] id = rig.read(buf, 512);
        assertEquals(0x85C0, (id[0] & 0xFF) | (id[1] & 0xFF) << 8);
        assertEquals("CD-T", new String(id, 20, 4, StandardCharsets.US_ASCII).replaceAll("(.)(.)", "$2$1"));
        assertEquals(0x0300, (id[98] & 0xFF) | (id[99] & 0xFF) << 8, "word 49: LBA, DMA");
        assertEquals(0x203F, (id[176] & 0xFF) | (id[177] & 0xFF) << 8, "word 88: UDMA 0-5, mode 5 selected");
        int sum = 0;
        for (byte b : id) sum += b & 0xFF;
        assertEquals(0, sum & 0xFF, "integrity word");
        // SET FEATURES: the subcommands a host sends to a CD-ROM are accepted, others aborted.
        for (int sub : new int[] {0x02, 0x03, 0x10, 0x66, 0x82, 0x90, 0xCC}) {
            r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0x45, sub, 0), false));
            assertFalse(r.failed(), "SET FEATURES " + Integer.toHexString(sub));
        }
        for (int sub : new int[] {0x01, 0x04, 0x55, 0xAA, 0xFF}) {
            r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0, sub, 0), false));
            assertTrue(r.failed(), "SET FEATURES " + Integer.toHexString(sub));
            assertEquals(AtaResult.ABRT, r.error());
            port.recover();
        }
        // Any other ATA command: aborted.
        r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 0, 1, 0, 0x40), false, new long[] {buf, 512}));
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error());
    }

    @Test
    void hostMediaChangesAndUnitAttention() {
        setUp(64 * 2048);
        ok(TUR, 0);
        PatternDisk second = new PatternDisk(32 * 2048);
        assertSame(medium, cd.insert(second), "the previous medium goes back to the caller");
        // UNIT ATTENTION: INQUIRY, GET CONFIGURATION and GET EVENT STATUS NOTIFICATION pass without clearing it (SPC-4 §5.9, MMC-6 §4.1.6.1).
        ok(new byte[] {AtapiCdrom.INQUIRY, 0, 0, 0, 36, 0}, 36);
        ok(new byte[] {AtapiCdrom.GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 8, 0}, 8);
        byte[] event = ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8);
        assertEquals(AtapiCdrom.EVENT_NEW_MEDIA, event[4], "NEW MEDIA");
        assertEquals(2, event[5], "medium present, tray closed");
        // The next other command fails with it, once.
        assertSense(AtapiCdrom.MEDIUM_MAY_HAVE_CHANGED, check(TUR, 0));
        ok(TUR, 0);
        byte[] cap = ok(new byte[] {AtapiCdrom.READ_CAPACITY, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);
        assertEquals(31, u32(cap, 0), "the new medium's size");
        // The event was reported once.
        assertEquals(AtapiCdrom.EVENT_NONE, ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8)[4]);
        // REQUEST SENSE while a unit attention is pending reports it and clears it.
        cd.insert(second);
        byte[] s = ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18);
        assertEquals(Sense.UNIT_ATTENTION, s[2]);
        assertEquals(0x28, s[12]);
        ok(TUR, 0);

        // The guest locks the medium: a host eject is refused and becomes an eject request event.
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1, 0}, 0);
        assertTrue(cd.locked());
        assertFalse(cd.eject(false));
        assertTrue(cd.mediumPresent());
        assertNull(cd.lastEjected());
        assertEquals(AtapiCdrom.EVENT_EJECT_REQUEST, ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8)[4]);
        // Forced: the medium goes, the tray opens, the lock is gone.
        assertTrue(cd.eject(true));
        assertSame(second, cd.lastEjected());
        assertFalse(cd.locked());
        assertTrue(cd.trayOpen());
        event = ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8);
        assertEquals(AtapiCdrom.EVENT_MEDIA_REMOVAL, event[4]);
        assertEquals(1, event[5], "tray open, no medium");
        assertSense(AtapiCdrom.MEDIUM_NOT_PRESENT, check(TUR, 0));
        // REQUEST SENSE with nothing pending and no medium: NOT READY / MEDIUM NOT PRESENT.
        s = ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18);
        assertEquals(Sense.NOT_READY, s[2]);
        assertEquals(0x3A, s[12]);
        assertSense(AtapiCdrom.MEDIUM_NOT_PRESENT, check(new byte[] {AtapiCdrom.READ_CAPACITY, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8));
        assertSense(AtapiCdrom.MEDIUM_NOT_PRESENT, check(readToc(0, 0, 0, 0xFFFF, 0), 64));
        // An unlocked medium is ejected without force.
        cd.insert(new PatternDisk(8 * 2048));
        assertTrue(cd.eject(false));
        // A medium smaller than one block holds nothing readable.
        cd.insert(new PatternDisk(2047));
        check(TUR, 0); // the unit attention
        assertSense(AtapiCdrom.MEDIUM_NOT_PRESENT, check(TUR, 0));
    }

    @Test
    void guestTrayAndLock() {
        setUp(64 * 2048);
        // START STOP UNIT with LoEj: eject (start 0) opens the tray, load (start 1) closes it; no event, no unit attention.
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x02, 0}, 0);
        assertTrue(cd.trayOpen());
        assertSense(AtapiCdrom.MEDIUM_NOT_PRESENT, check(TUR, 0));
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x03, 0}, 0);
        assertFalse(cd.trayOpen());
        ok(TUR, 0);
        assertEquals(AtapiCdrom.EVENT_NONE, ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8)[4]);
        // Without LoEj only the spindle would change: the tray stays.
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x00, 0}, 0);
        assertFalse(cd.trayOpen());
        // Locked: the guest's own eject is refused (MEDIUM REMOVAL PREVENTED), a load still works.
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1, 0}, 0);
        assertSense(AtapiCdrom.REMOVAL_PREVENTED, check(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x02, 0}, 0));
        assertFalse(cd.trayOpen());
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 0, 0}, 0);
        assertFalse(cd.locked());
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x02, 0}, 0);
        assertTrue(cd.trayOpen());
    }

    private static byte[] getConfiguration(int rt, int start, int alloc) {
        return new byte[] {AtapiCdrom.GET_CONFIGURATION, (byte) rt, (byte) (start >> 8), (byte) start, 0, 0, 0, (byte) (alloc >> 8),
                (byte) alloc, 0, 0, 0};
    }

    /** Feature codes of a GET CONFIGURATION answer, with the current bit: code << 1 | current. */
    private static int[] features(byte[] r) {
        assertEquals(r.length - 4, u32(r, 0), "data length");
        int n = 0;
        int[] out = new int[16];
        for (int at = 8; at < r.length; at += 4 + (r[at + 3] & 0xFF)) out[n++] = u16(r, at) << 1 | (r[at + 2] & 1);
        return Arrays.copyOf(out, n);
    }

    @Test
    void getConfigurationForCdDvdAndNoMedium() {
        setUp(64 * 2048);
        byte[] all = ok(getConfiguration(0, 0, 0xFFFF), 0xFFFF);
        assertEquals(0x0008, u16(all, 6), "current profile: CD-ROM");
        assertArrayEquals(new int[] {0 << 1 | 1, 1 << 1 | 1, 3 << 1 | 1, 0x10 << 1 | 1, 0x1E << 1 | 1}, features(all));
        // The profile list: DVD-ROM (10h) not current, CD-ROM (08h) current; version 0, persistent, current.
        assertEquals(0x03, all[10]);
        assertArrayEquals(new byte[] {0, 0x10, 0, 0, 0, 0x08, 1, 0}, Arrays.copyOfRange(all, 12, 20));
        // Random readable: 2048-byte blocks; other features' version 1.
        assertEquals(0x07, all[8 + 12 + 12 + 8 + 2], "feature 10h: version 1, persistent, current");
        // RT 2: the one feature asked for; RT 1: current ones from the start code on.
        assertArrayEquals(new int[] {0x10 << 1 | 1}, features(ok(getConfiguration(2, 0x10, 0xFFFF), 0xFFFF)));
        assertArrayEquals(new int[] {0x10 << 1 | 1, 0x1E << 1 | 1}, features(ok(getConfiguration(1, 0x04, 0xFFFF), 0xFFFF)));
        assertArrayEquals(new int[] {0x1E << 1 | 1}, features(ok(getConfiguration(0, 0x1E, 0xFFFF), 0xFFFF)));
        assertSense(Sense.invalidFieldInCdb(1, 1), check(getConfiguration(3, 0, 0xFFFF), 64));
        assertEquals(8, ok(getConfiguration(0, 0, 8), 8).length, "allocation length");
        // No medium: no current profile; random readable and CD read are not current (RT 1 leaves them out).
        cd.eject(true);
        byte[] none = ok(getConfiguration(0, 0, 0xFFFF), 0xFFFF);
        assertEquals(0, u16(none, 6));
        assertArrayEquals(new int[] {0 << 1 | 1, 1 << 1 | 1, 3 << 1 | 1, 0x10 << 1, 0x1E << 1}, features(none));
        assertArrayEquals(new byte[] {0, 0x10, 0, 0, 0, 0x08, 0, 0}, Arrays.copyOfRange(none, 12, 20));
        assertArrayEquals(new int[] {0 << 1 | 1, 1 << 1 | 1, 3 << 1 | 1}, features(ok(getConfiguration(1, 0, 0xFFFF), 0xFFFF)));
        // A medium bigger than an 80-minute CD is a DVD-ROM: no CD read feature current.
        cd.insert(new PatternDisk((AtapiCdrom.CD_MAX_BLOCKS + 1) * 2048));
        byte[] dvd = ok(getConfiguration(0, 0, 0xFFFF), 0xFFFF);
        assertEquals(0x0010, u16(dvd, 6));
        assertArrayEquals(new byte[] {0, 0x10, 1, 0, 0, 0x08, 0, 0}, Arrays.copyOfRange(dvd, 12, 20));
        assertArrayEquals(new int[] {0 << 1 | 1, 1 << 1 | 1, 3 << 1 | 1, 0x10 << 1 | 1, 0x1E << 1}, features(dvd));
        // Exactly 80 minutes is still a CD.
        cd.insert(new PatternDisk(AtapiCdrom.CD_MAX_BLOCKS * 2048));
        assertEquals(0x0008, u16(ok(getConfiguration(0, 0, 0xFFFF), 0xFFFF), 6));
    }

    @Test
    void eventStatusAndModeSense() {
        setUp(64 * 2048);
        // GESN: only polled operation (MMC-6 §6.7.2.1: Polled 0 is not supported here).
        assertSense(Sense.invalidFieldInCdb(1, 0), check(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 0, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8));
        // No requested class is supported: NEA with the supported classes (media).
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x10}, ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x04, 0, 0, 0, 8, 0}, 8));
        byte[] media = ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8);
        assertArrayEquals(new byte[] {0, 4, 4, 0x10, 0, 2, 0, 0}, media);
        assertEquals(4, ok(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 4, 0}, 4).length);

        // MODE SENSE(10): current values of both pages (3Fh), header medium type 70h, length.
        byte[] both = ok(modeSense(0x3F), 0xFFFF);
        assertEquals(8 + 8 + 22, both.length);
        assertEquals(both.length - 2, u16(both, 0));
        assertEquals(0x70, both[2]);
        assertArrayEquals(new byte[] {0x01, 0x06, 0, 5, 0, 0, 0, 0}, Arrays.copyOfRange(both, 8, 16), "read error recovery");
        byte[] caps = Arrays.copyOfRange(both, 16, 38);
        assertEquals(0x2A, caps[0]);
        assertEquals(20, caps[1]);
        assertEquals(0x29, caps[6], "tray, eject, lock supported, not locked");
        assertEquals(704, u16(caps, 8));
        assertEquals(2, u16(caps, 10));
        assertEquals(512, u16(caps, 12));
        assertEquals(704, u16(caps, 14));
        assertArrayEquals(Arrays.copyOfRange(both, 8, 16), Arrays.copyOfRange(ok(modeSense(0x01), 0xFFFF), 8, 16));
        assertArrayEquals(caps, Arrays.copyOfRange(ok(modeSense(0x2A), 0xFFFF), 8, 30));
        // Locked: the capabilities page says so.
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1, 0}, 0);
        assertEquals(0x2B, ok(modeSense(0x2A), 0xFFFF)[8 + 6]);
        // Changeable values (PC 1): nothing is changeable.
        byte[] changeable = ok(modeSense(0x40 | 0x3F), 0xFFFF);
        assertArrayEquals(new byte[] {0x01, 0x06, 0, 0, 0, 0, 0, 0}, Arrays.copyOfRange(changeable, 8, 16));
        byte[] zeros = new byte[20];
        assertArrayEquals(zeros, Arrays.copyOfRange(changeable, 18, 38));
        // Saved values (PC 3): SAVING PARAMETERS NOT SUPPORTED; an unknown page: INVALID FIELD IN CDB.
        assertSense(Sense.SAVING_PARAMETERS_NOT_SUPPORTED, check(modeSense(0xC0 | 0x2A), 64));
        assertSense(Sense.invalidFieldInCdb(2, 5), check(modeSense(0x08), 64));
        assertEquals(10, ok(new byte[] {AtapiCdrom.MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, 10, 0}, 10).length);
    }

    private static byte[] modeSense(int pcPage) {
        return new byte[] {AtapiCdrom.MODE_SENSE_10, 0, (byte) pcPage, 0, 0, 0, 0, (byte) 0xFF, (byte) 0xFF, 0, 0, 0};
    }

    @Test
    void anUnexpectedExceptionFailsTheCommandAndKeepsThePort() {
        setUp(64 * 2048);
        java.util.List<RuntimeException> seen = new java.util.ArrayList<>();
        var previous = AhciPort.internalErrors;
        AhciPort.internalErrors = seen::add;
        try {
            medium.brokenSize = true;
            long buf = rig.buffer(8);
            AhciDriver.Result r = packet(new byte[] {AtapiCdrom.READ_CAPACITY, 0, 0, 0, 0, 0, 0, 0, 0, 0}, buf, 8);
            assertTrue(r.failed(), "the command fails with an error status");
            assertEquals(AtaResult.STATUS_ERROR, r.status());
            assertEquals(AtaResult.ABRT, r.error());
            assertEquals(0, r.prdbc());
            assertEquals(1, seen.size(), "reported as an internal error");
            assertTrue(seen.get(0) instanceof IllegalStateException);
            medium.brokenSize = false;
            port.recover();
            ok(TUR, 0);
        } finally {
            AhciPort.internalErrors = previous;
        }
    }

    @Test
    void driveStateSurvivesSaveAndRestore() {
        setUp(64 * 2048);
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1, 0}, 0);
        cd.insert(medium);
        AhciDriver.Result r = packet(new byte[] {(byte) 0xFF}, rig.buffer(1), 0); // unit attention
        assertTrue(r.failed());
        AtapiCdrom.State s = cd.save();
        assertEquals(new AtapiCdrom.State(false, true, false, AtapiCdrom.EVENT_NEW_MEDIA, Sense.UNIT_ATTENTION, 0x28, 0), s);
        AtapiCdrom other = new AtapiCdrom(medium, "X");
        other.restore(new AtapiCdrom.State(true, true, true, 0x1F3, 0x16, 0x128, 0x101));
        AtapiCdrom.State masked = other.save();
        assertEquals(new AtapiCdrom.State(true, true, true, 0x3, 0x6, 0x28, 0x01), masked, "restored fields are masked to their widths");
        assertTrue(other.trayOpen());
        assertTrue(other.locked());
        assertFalse(other.mediumPresent());
        assertEquals("cdrom", other.kind());
        assertEquals(0x70, other.resetStatus());
    }
}
