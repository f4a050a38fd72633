package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.scsi.Sense;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 13 test 6, CD-ROM part: an ISO 9660 image made by xorriso at test time on an ATAPI CD-ROM;
 * the driver's READ TOC / READ CAPACITY answers are compared with the ISO's size and READ(10)/(12)
 * data with the ISO's bytes; then the MMC commands Linux's sr/cdrom drivers send, and media change
 * (guest eject, host eject/insert) seen as UNIT ATTENTION and media events.
 */
@Timeout(120)
class AhciCdromTest {
    /** The ISO xorriso made, once per JVM (PIT runs these tests for many mutants in one JVM). */
    private static byte[] cachedIso;

    @TempDir Path dir;
    private Path iso;
    private byte[] isoBytes;
    private BlockDevice medium;
    private AhciRig rig;
    private AtapiCdrom cdrom;
    private AhciDriver.Port port;

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/xorriso")), "xorriso is not installed (apt-get install xorriso)");
        iso = dir.resolve("test.iso");
        if (cachedIso == null) {
            Path content = Files.createDirectories(dir.resolve("content/boot"));
            byte[] big = new byte[3 << 20];
            new Random(9660).nextBytes(big);
            Files.write(content.resolve("random.bin"), big);
            Files.writeString(content.resolve("hello.txt"), "hello from the AHCI CD-ROM test\n");
            Process p = new ProcessBuilder("xorriso", "-as", "mkisofs", "-quiet", "-V", "VMM_AHCI_TEST", "-J", "-R",
                    "-o", iso.toString(), dir.resolve("content").toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "xorriso finished");
            assertEquals(0, p.exitValue(), "xorriso: " + out);
            cachedIso = Files.readAllBytes(iso);
        } else {
            Files.write(iso, cachedIso);
        }
        isoBytes = Files.readAllBytes(iso);
        medium = Images.open(iso, Images.Options.readOnlyDefaults().withFormat(ImageFormat.RAW));
        cdrom = new AtapiCdrom(medium, "CD-1");
        MemoryDisk disk = new MemoryDisk(new byte[1 << 20], false);
        rig = new AhciRig(AhciIo.inline(), new AtaDisk(disk, AtaDisk.Config.of("D-0")), cdrom);
        port = rig.startPort(1);
    }

    @AfterEach
    void tearDown() {
        if (medium != null) medium.close();
        if (rig != null) rig.close();
    }

    private AhciDriver.Result packet(byte[] cdb, long buf, int len) {
        return port.packet(2, cdb, buf, len);
    }

    /** A packet command expected to succeed: its data-in bytes. */
    private byte[] ok(byte[] cdb, int len) {
        long buf = rig.buffer(Math.max(len, 1));
        AhciDriver.Result r = packet(cdb, buf, len);
        assertFalse(r.failed(), String.format("packet %02x failed: %s", cdb[0], r));
        assertEquals(3, r.d2h()[12], "interrupt reason I/O | C/D");
        return rig.read(buf, r.prdbc());
    }

    /** A packet command expected to fail: recover as Linux's EH does and fetch its sense with REQUEST SENSE. */
    private Sense check(byte[] cdb, int len) {
        AhciDriver.Result r = packet(cdb, rig.buffer(Math.max(len, 1)), len);
        assertTrue(r.failed(), String.format("packet %02x should have failed", cdb[0]));
        assertEquals(AtaResult.ERR, r.status() & AtaResult.ERR, "CHK");
        port.recover();
        byte[] s = ok(new byte[] {AtapiCdrom.REQUEST_SENSE, 0, 0, 0, 18, 0}, 18);
        assertEquals(r.error() >> 4, s[2] & 0x0F, "sense key in the error register");
        return new Sense(s[2] & 0x0F, s[12] & 0xFF, s[13] & 0xFF, -1, -1, false);
    }

    private static byte[] cdb10(int op, long lba, int len, int b1) {
        return new byte[] {(byte) op, (byte) b1, (byte) (lba >> 24), (byte) (lba >> 16), (byte) (lba >> 8), (byte) lba, 0,
                (byte) (len >> 8), (byte) len, 0, 0, 0};
    }

    private static int u16(byte[] b, int i) { return (b[i] & 0xFF) << 8 | (b[i + 1] & 0xFF); }

    private static long u32(byte[] b, int i) { return (long) u16(b, i) << 16 | u16(b, i + 2); }

    @Test
    void identifyInquiryCapacityAndToc() {
        assertEquals(AtapiCdrom.SIGNATURE, port.signature);
        // IDENTIFY DEVICE is aborted by a packet device; IDENTIFY PACKET DEVICE answers.
        long buf = rig.buffer(512);
        AhciDriver.Result r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_DEVICE, 0, 0, 0, 0), false, new long[] {buf, 512}));
        assertTrue(r.failed());
        assertEquals(0x14, r.d2h()[5] & 0xFF, "packet signature in LBA mid");
        assertEquals(0xEB, r.d2h()[6] & 0xFF, "packet signature in LBA high");
        port.recover();
        r = port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_PACKET_DEVICE, 0, 0, 0, 0), false, new long[] {buf, 512}));
        assertFalse(r.failed());
        byte[] id = rig.read(buf, 512);
        assertEquals(0x85C0, (id[0] & 0xFF) | (id[1] & 0xFF) << 8, "ATAPI CD-ROM, removable, 12-byte packets");

        byte[] inq = ok(new byte[] {AtapiCdrom.INQUIRY, 0, 0, 0, 96, 0}, 96);
        assertEquals(36, inq.length);
        assertEquals(0x05, inq[0], "peripheral type: CD/DVD");
        assertEquals((byte) 0x80, inq[1], "removable");

        ok(new byte[12], 0); // TEST UNIT READY
        long blocks = isoBytes.length / 2048;
        byte[] cap = ok(cdb10(AtapiCdrom.READ_CAPACITY, 0, 0, 0), 8);
        assertEquals(blocks - 1, u32(cap, 0), "last LBA from the ISO's size");
        assertEquals(2048, u32(cap, 4));

        // READ TOC format 0, LBA: track 1 at 0, lead-out at the ISO's end.
        byte[] toc = ok(new byte[] {AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, 0, 0x03, 0x24, 0}, 0x324);
        assertEquals(20, toc.length);
        assertEquals(18, u16(toc, 0));
        assertEquals(1, toc[2]);
        assertEquals(1, toc[3]);
        assertEquals(0x14, toc[5], "data track");
        assertEquals(1, toc[6]);
        assertEquals(0, u32(toc, 8));
        assertEquals((byte) 0xAA, toc[14], "lead-out");
        assertEquals(blocks, u32(toc, 16));
        // MSF: track 1 at 00:02:00, lead-out at the ISO's length + 2 s.
        byte[] msf = ok(new byte[] {AtapiCdrom.READ_TOC, 0x02, 0, 0, 0, 0, 0, 0x03, 0x24, 0}, 0x324);
        assertArrayEquals(new byte[] {0, 0, 2, 0}, Arrays.copyOfRange(msf, 8, 12));
        long f = blocks + 150;
        assertArrayEquals(new byte[] {0, (byte) (f / 4500), (byte) (f / 75 % 60), (byte) (f % 75)}, Arrays.copyOfRange(msf, 16, 20));
        // Starting at the lead-out gives the lead-out alone; format 1 gives the session.
        assertEquals(12, ok(new byte[] {AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, (byte) 0xAA, 0x03, 0x24, 0}, 0x324).length);
        byte[] session = ok(new byte[] {AtapiCdrom.READ_TOC, 0, 1, 0, 0, 0, 0, 0, 12, 0}, 12);
        assertEquals(10, u16(session, 0));
        assertEquals(1, session[6], "first track of the last session");
        assertEquals(0, u32(session, 8));
        // Allocation length truncates.
        assertEquals(4, ok(new byte[] {AtapiCdrom.READ_TOC, 0, 0, 0, 0, 0, 0, 0, 4, 0}, 4).length);
        Sense bad = check(new byte[] {AtapiCdrom.READ_TOC, 0, 5, 0, 0, 0, 0, 0, 12, 0}, 12);
        assertEquals(Sense.ILLEGAL_REQUEST, bad.key());
        assertEquals(0x24, bad.asc());
    }

    @Test
    void readsMatchTheIsoBytes() {
        byte[] pvd = ok(cdb10(AtapiCdrom.READ_10, 16, 1, 0), 2048);
        assertEquals("CD001", new String(pvd, 1, 5, StandardCharsets.US_ASCII), "primary volume descriptor");
        assertEquals("VMM_AHCI_TEST", new String(pvd, 40, 32, StandardCharsets.US_ASCII).trim());
        int blocks = isoBytes.length / 2048;
        Random rnd = new Random(10);
        for (int done = 0; done < blocks; ) { // the whole ISO, READ(10) and READ(12) in random chunks and PRD splits
            int n = Math.min(blocks - done, 1 + rnd.nextInt(64));
            long buf = rig.buffer(n * 2048L);
            byte[] cdb = rnd.nextBoolean() ? cdb10(AtapiCdrom.READ_10, done, n, 0)
                    : new byte[] {(byte) AtapiCdrom.READ_12, 0, (byte) (done >> 24), (byte) (done >> 16), (byte) (done >> 8), (byte) done,
                                  0, 0, (byte) (n >> 8), (byte) n, 0, 0};
            int half = (n * 2048 / 2) & ~1;
            AhciDriver.Result r = port.issue(9, half == 0 ? AhciDriver.Cmd.packet(Arrays.copyOf(cdb, 16), new long[] {buf, n * 2048L})
                    : AhciDriver.Cmd.packet(Arrays.copyOf(cdb, 16), new long[] {buf, half}, new long[] {buf + half, n * 2048L - half}));
            assertFalse(r.failed());
            assertEquals(n * 2048, r.prdbc());
            assertArrayEquals(Arrays.copyOfRange(isoBytes, done * 2048, (done + n) * 2048), rig.read(buf, n * 2048), "blocks at " + done);
            done += n;
        }
        Sense past = check(cdb10(AtapiCdrom.READ_10, blocks - 1, 2, 0), 4096);
        assertEquals(Sense.ILLEGAL_REQUEST, past.key());
        assertEquals(0x21, past.asc(), "LBA out of range");
    }

    @Test
    void configurationEventsModeSenseAndMediaChange() throws Exception {
        byte[] conf = ok(new byte[] {AtapiCdrom.GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0x01, 0, 0}, 256);
        assertEquals(conf.length - 4, u32(conf, 0));
        assertEquals(0x0008, u16(conf, 6), "current profile: CD-ROM");
        assertEquals(0x0000, u16(conf, 8), "first feature: profile list");
        byte[] core = ok(new byte[] {AtapiCdrom.GET_CONFIGURATION, 2, 0, 1, 0, 0, 0, 0x01, 0, 0}, 256);
        assertEquals(8 + 12, core.length, "RT=2: the core feature alone");
        assertEquals(0x0001, u16(core, 8));

        byte[] caps = ok(new byte[] {AtapiCdrom.MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, (byte) 0xFF, 0}, 255);
        assertEquals(0x2A, caps[8] & 0x3F, "capabilities page");
        assertEquals(caps.length - 2, u16(caps, 0));

        byte[] gesn = new byte[] {AtapiCdrom.GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8, 0};
        byte[] ev = ok(gesn, 8);
        assertEquals(0x04, ev[2], "media class");
        assertEquals(0, ev[4], "no event");
        assertEquals(0x02, ev[5], "medium present, tray closed");
        assertEquals(Sense.ILLEGAL_REQUEST, check(new byte[] {AtapiCdrom.GET_EVENT_STATUS, 0, 0, 0, 0x10, 0, 0, 0, 8, 0}, 8).key(),
                "asynchronous GESN refused");

        // The guest locks the drive: its own eject is refused, as is a host eject without force.
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 1, 0}, 0);
        Sense prevented = check(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x02, 0}, 0);
        assertEquals(0x53, prevented.asc());
        assertEquals(0x02, prevented.ascq());
        assertFalse(cdrom.eject(false));
        assertEquals(AtapiCdrom.EVENT_EJECT_REQUEST, ok(gesn, 8)[4], "eject request event for the guest");
        // Unlock and eject from the guest: NOT READY / MEDIUM NOT PRESENT, tray open; load brings the same
        // medium back without an event or a unit attention (as QEMU 7.2).
        ok(new byte[] {AtapiCdrom.PREVENT_ALLOW, 0, 0, 0, 0, 0}, 0);
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x02, 0}, 0);
        byte[] open = ok(gesn, 8);
        assertEquals(0, open[4], "no event for the guest's own eject");
        assertEquals(0x01, open[5], "tray open, no medium");
        Sense notReady = check(new byte[12], 0);
        assertEquals(Sense.NOT_READY, notReady.key());
        assertEquals(0x3A, notReady.asc());
        ok(new byte[] {AtapiCdrom.START_STOP_UNIT, 0, 0, 0, 0x03, 0}, 0);
        assertEquals(0x02, ok(gesn, 8)[5], "medium present again");
        ok(new byte[12], 0);

        // Host side (QMP eject / blockdev-change-medium): a new medium of other content.
        assertTrue(cdrom.eject(false));
        assertEquals(medium, cdrom.lastEjected());
        assertEquals(0x3A, check(cdb10(AtapiCdrom.READ_CAPACITY, 0, 0, 0), 8).asc());
        byte[] other = new byte[64 * 2048];
        new Random(2).nextBytes(other);
        cdrom.insert(new MemoryDisk(other, true));
        byte[] newMedia = ok(gesn, 8);
        assertEquals(AtapiCdrom.EVENT_NEW_MEDIA, newMedia[4]);
        Sense ua = check(cdb10(AtapiCdrom.READ_10, 0, 1, 0), 2048);
        assertEquals(Sense.UNIT_ATTENTION, ua.key());
        assertEquals(0x28, ua.asc(), "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED");
        assertEquals(63, u32(ok(cdb10(AtapiCdrom.READ_CAPACITY, 0, 0, 0), 8), 0));
        assertArrayEquals(Arrays.copyOfRange(other, 2048 * 5, 2048 * 7), ok(cdb10(AtapiCdrom.READ_10, 5, 2, 0), 4096));
        assertEquals(Sense.ILLEGAL_REQUEST, check(new byte[] {(byte) 0xBB, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0).key(), "unknown opcode");
    }
}
