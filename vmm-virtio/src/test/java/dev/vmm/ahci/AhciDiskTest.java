package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13 test 6, disk part: the Java AHCI driver against an ATA disk on a raw image file. IDENTIFY
 * fields are checked against the image and the configuration; data commands (DMA, PIO, 32 NCQ tags
 * of mixed reads, writes and queued TRIMs) are checked against an in-memory model of the image and
 * finally against the image file's bytes.
 */
@Timeout(120)
class AhciDiskTest {
    static final long IMAGE_BYTES = 16L << 20;
    static final int SECTORS_PER_WINDOW = 256;

    @TempDir Path dir;
    private AhciRig rig;
    private BlockDevice disk;
    private ExecutorService executor;
    private Path image;
    private byte[] model;

    private AhciDriver.Port setUp(AhciIo io) throws Exception {
        image = dir.resolve("disk.raw");
        model = new byte[(int) IMAGE_BYTES];
        new Random(13).nextBytes(model);
        Files.write(image, model);
        disk = Images.open(image, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
        AtaDisk ata = new AtaDisk(disk, new AtaDisk.Config("VMM TEST DISK", "SN-AHCI-0001", "FW1.2", 4096, true));
        rig = new AhciRig(io, ata);
        if (executor != null) rig.driver.patienceNanos = AhciDriver.PATIENCE_NANOS; // an I/O thread completes commands
        AhciDriver.Port p = rig.startPort(0);
        return p;
    }

    @AfterEach
    void tearDown() throws Exception {
        if (executor != null) {
            executor.shutdown();
            assertTrue(executor.awaitTermination(10, TimeUnit.SECONDS));
        }
        if (disk != null) disk.close();
        if (rig != null) rig.close();
    }

    private static int word(byte[] id, int w) {
        return (id[2 * w] & 0xFF) | (id[2 * w + 1] & 0xFF) << 8;
    }

    private static String ataString(byte[] id, int w, int words) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            int v = word(id, w + i);
            sb.append((char) (v >> 8)).append((char) (v & 0xFF));
        }
        return sb.toString().trim();
    }

    private byte[] identify(AhciDriver.Port p) {
        long buf = rig.buffer(512);
        AhciDriver.Result r = p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.IDENTIFY_DEVICE, 0, 0, 0, 0), false,
                new long[] {buf, 512, 1}));
        assertFalse(r.failed(), "IDENTIFY failed: " + r);
        assertEquals(512, r.prdbc());
        assertEquals(0x5F, r.pio()[0] & 0xFF, "PIO Setup FIS posted");
        assertEquals(0x50, r.pio()[15] & 0xFF, "PIO Setup E_Status");
        assertTrue((r.is() & AhciPort.IS_PSS) != 0 && (r.is() & AhciPort.IS_DPS) != 0, "PSS and DPS (PRD with I bit)");
        return rig.read(buf, 512);
    }

    @Test
    void hbaAndIdentifyDevice() throws Exception {
        AhciDriver.Port p = setUp(AhciIo.inline());
        AhciDriver d = rig.driver;
        int cap = d.reg(AhciController.CAP);
        assertEquals(5, cap & 0x1F, "CAP.NP: six ports");
        assertEquals(31, cap >> 8 & 0x1F, "CAP.NCS: 32 slots");
        assertTrue((cap & 1 << 30) != 0 && (cap & 1 << 31) != 0, "SNCQ, S64A");
        assertEquals(0x3F, d.reg(AhciController.PI));
        assertEquals(AtaDisk.SIGNATURE, p.signature);
        assertEquals(0x113, p.reg(AhciPort.SSTS));
        assertEquals(0, d.port(1).reg(AhciPort.SSTS), "empty port: no device");
        assertEquals(0xFFFF_FFFF, d.port(1).reg(AhciPort.SIG));

        byte[] id = identify(p);
        long sectors = IMAGE_BYTES / 512;
        assertEquals("VMM TEST DISK", ataString(id, 27, 20));
        assertEquals("SN-AHCI-0001", ataString(id, 10, 10));
        assertEquals("FW1.2", ataString(id, 23, 4));
        assertEquals(sectors, word(id, 60) | (long) word(id, 61) << 16, "28-bit capacity");
        assertEquals(sectors, word(id, 100) | (long) word(id, 101) << 16 | (long) word(id, 102) << 32, "48-bit capacity");
        assertTrue((word(id, 83) & 1 << 10) != 0 && (word(id, 86) & 1 << 10) != 0, "LBA48 supported and enabled");
        assertEquals(31, word(id, 75) & 0x1F, "queue depth 32");
        assertTrue((word(id, 76) & 1 << 8) != 0, "NCQ");
        assertTrue((word(id, 169) & 1) != 0, "TRIM");
        assertTrue((word(id, 77) & 1 << 6) != 0, "SEND/RECEIVE FPDMA QUEUED");
        assertEquals(0x6003, word(id, 106), "512-byte logical, 4096-byte physical sectors");
        assertTrue((word(id, 82) & 1 << 5) != 0 && (word(id, 85) & 1 << 5) != 0, "write cache supported and on");
        assertTrue((word(id, 49) & 0x0300) == 0x0300, "LBA and DMA");
        assertEquals(0xA5, id[510] & 0xFF);
        int sum = 0;
        for (byte b : id) sum += b & 0xFF;
        assertEquals(0, sum & 0xFF, "IDENTIFY checksum");

        // SET FEATURES: write cache off shows in word 85; set transfer mode UDMA 2 in word 88.
        assertFalse(p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0, 0x82, 0), false)).failed());
        assertFalse(p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0x42, 0x03, 0), false)).failed());
        id = identify(p);
        assertEquals(0, word(id, 85) & 1 << 5, "write cache off");
        assertEquals(0x0400, word(id, 88) & 0x7F00, "UDMA 2 selected");
        AhciDriver.Result bad = p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, 0, 0x77, 0), false));
        assertTrue(bad.failed(), "unknown SET FEATURES subcommand");
        assertEquals(AtaResult.ABRT, bad.error());
    }

    /** Even-sized random PRD pieces covering {@code len} bytes of a buffer at {@code gpa}, some with the I bit. */
    private static long[][] prds(long gpa, int len, Random rnd) {
        List<long[]> out = new ArrayList<>();
        int off = 0;
        while (off < len) {
            int n = Math.min(len - off, 2 * (1 + rnd.nextInt(Math.max(1, len / 4))));
            out.add(new long[] {gpa + off, n, rnd.nextInt(4) == 0 ? 1 : 0});
            off += n;
        }
        return out.toArray(long[][]::new);
    }

    @Test
    void dmaAndPioReadWriteMatchTheImage() throws Exception {
        AhciDriver.Port p = setUp(AhciIo.inline());
        Random rnd = new Random(1);
        int[][] cases = { // command, lba, sectors
            {AtaCommand.WRITE_DMA_EXT, 100, 24}, {AtaCommand.WRITE_DMA, 3000, 7}, {AtaCommand.WRITE_SECTORS_EXT, 7000, 3},
            {AtaCommand.WRITE_SECTORS, 9000, 1}, {AtaCommand.WRITE_DMA_EXT, (int) (IMAGE_BYTES / 512 - 16), 16},
        };
        for (int[] c : cases) {
            int bytes = c[2] * 512;
            long buf = rig.buffer(bytes);
            byte[] data = new byte[bytes];
            rnd.nextBytes(data);
            rig.ram.memory.write(buf, data);
            AhciDriver.Result r = p.issue(3, AhciDriver.Cmd.of(AhciDriver.h2d(c[0], c[1], c[2], 0, 0x40), true, prds(buf, bytes, rnd)));
            assertFalse(r.failed(), "write " + Arrays.toString(c) + ": " + r);
            assertEquals(bytes, r.prdbc());
            assertEquals(0x34, r.d2h()[0] & 0xFF);
            assertEquals(0x50, r.status());
            System.arraycopy(data, 0, model, c[1] * 512, bytes);
        }
        assertFalse(p.issue(4, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.FLUSH_CACHE_EXT, 0, 0, 0, 0), false)).failed());
        int[] readCmds = {AtaCommand.READ_DMA_EXT, AtaCommand.READ_DMA, AtaCommand.READ_SECTORS_EXT, AtaCommand.READ_SECTORS};
        for (int[] c : cases) {
            int bytes = c[2] * 512;
            long buf = rig.buffer(bytes);
            int cmd = readCmds[rnd.nextInt(readCmds.length)];
            if (c[1] >= 1 << 28) cmd = AtaCommand.READ_DMA_EXT;
            AhciDriver.Result r = p.issue(5, AhciDriver.Cmd.of(AhciDriver.h2d(cmd, c[1], c[2], 0, 0x40), false, prds(buf, bytes, rnd)));
            assertFalse(r.failed(), "read " + Arrays.toString(c));
            assertArrayEquals(Arrays.copyOfRange(model, c[1] * 512, c[1] * 512 + bytes), rig.read(buf, bytes));
        }
        // READ VERIFY: inside the disk passes, past the end is IDNF.
        assertFalse(p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_VERIFY_EXT, 10, 100, 0, 0x40), false)).failed());
        AhciDriver.Result past = p.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_VERIFY_EXT, IMAGE_BYTES / 512, 1, 0, 0x40), false));
        assertTrue(past.failed());
        assertEquals(AtaResult.ABRT, past.error(), "ABRT for a range past the end, as QEMU 7.2");
        p.recover();
        // Non-queued TRIM (DATA SET MANAGEMENT).
        long list = rig.buffer(512);
        rig.ram.memory.write(list, AhciDriver.trimList(new long[][] {{2048, 16}, {4096, 8}}));
        assertFalse(p.issue(1, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.DATA_SET_MANAGEMENT, 0, 1, 1, 0x40), true,
                new long[] {list, 512})).failed());
        byte[] z = readDisk(2048 * 512, 16 * 512);
        if (isZero(z)) {
            Arrays.fill(model, 2048 * 512, (2048 + 16) * 512, (byte) 0);
            Arrays.fill(model, 4096 * 512, (4096 + 8) * 512, (byte) 0);
        }
        disk.flush();
        assertArrayEquals(model, Files.readAllBytes(image), "the image file holds what the guest wrote");
    }

    private byte[] readDisk(long off, int len) {
        byte[] b = new byte[len];
        disk.read(off, MemorySegment.ofArray(b));
        return b;
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    @Test
    void thirtyTwoNcqTagsInline() throws Exception {
        ncqRounds(setUp(AhciIo.inline()), 3);
    }

    @Test
    void thirtyTwoNcqTagsOnAnIoThread() throws Exception {
        executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "ahci-io-test"));
        ncqRounds(setUp(AhciIo.of(executor)), 3);
    }

    /** Rounds of 32 NCQ commands (reads, writes, queued TRIMs) in disjoint windows, checked against the model. */
    private void ncqRounds(AhciDriver.Port p, int rounds) throws Exception {
        rig.enableMsi();
        rig.driver.enableInterrupts();
        // Does a TRIM on this file system read back as zeroes (hole punched)? Then the model zeroes trimmed ranges.
        disk.write(IMAGE_BYTES - 4096, MemorySegment.ofArray(new byte[4096]).fill((byte) 1));
        disk.discard(IMAGE_BYTES - 4096, 4096);
        boolean trimZeroes = isZero(readDisk(IMAGE_BYTES - 4096, 4096));
        System.arraycopy(readDisk(IMAGE_BYTES - 4096, 4096), 0, model, (int) (IMAGE_BYTES - 4096), 4096);

        Random rnd = new Random(32);
        int totalReads = 0, totalWrites = 0, totalTrims = 0;
        for (int round = 0; round < rounds; round++) {
            List<AhciDriver.Cmd> cmds = new ArrayList<>();
            long[] bufs = new long[32];
            int[] kinds = new int[32], lbas = new int[32], counts = new int[32];
            byte[][] expect = new byte[32][];
            for (int tag = 0; tag < 32; tag++) {
                int window = (round * 32 + tag) % (int) (IMAGE_BYTES / 512 / SECTORS_PER_WINDOW - 1);
                int n = 1 + rnd.nextInt(128);
                int lba = window * SECTORS_PER_WINDOW + rnd.nextInt(SECTORS_PER_WINDOW - n);
                int kind = rnd.nextInt(3); // 0 read, 1 write, 2 trim
                kinds[tag] = kind;
                lbas[tag] = lba;
                counts[tag] = n;
                int bytes = n * 512;
                if (kind == 2) {
                    long list = rig.buffer(512);
                    rig.ram.memory.write(list, AhciDriver.trimList(new long[][] {{lba, n}}));
                    cmds.add(new AhciDriver.Cmd(AhciDriver.queuedTrim(tag, 1), null, new long[][] {{list, 512}}, true, false));
                    if (trimZeroes) Arrays.fill(model, lba * 512, lba * 512 + bytes, (byte) 0);
                    totalTrims++;
                    continue;
                }
                bufs[tag] = rig.buffer(bytes);
                if (kind == 1) {
                    byte[] data = new byte[bytes];
                    rnd.nextBytes(data);
                    rig.ram.memory.write(bufs[tag], data);
                    System.arraycopy(data, 0, model, lba * 512, bytes);
                    totalWrites++;
                } else {
                    expect[tag] = Arrays.copyOfRange(model, lba * 512, lba * 512 + bytes);
                    totalReads++;
                }
                cmds.add(AhciDriver.Cmd.of(AhciDriver.ncq(kind == 1, tag, lba, n), kind == 1, prds(bufs[tag], bytes, rnd)));
            }
            int msisBefore = rig.msis.size();
            int is = p.issueQueued(cmds);
            assertEquals(0, is & AhciPort.IS_TFES, "no task file error in round " + round);
            assertTrue((is & AhciPort.IS_SDBS) != 0, "Set Device Bits FIS interrupt");
            assertEquals(0, p.reg(AhciPort.SACT));
            assertEquals(0, p.reg(AhciPort.CI));
            AhciDriver.Result last = p.result(31);
            assertEquals(0xA1, last.sdb()[0] & 0xFF, "SDB FIS in the received-FIS area");
            for (int tag = 0; tag < 32; tag++) {
                AhciDriver.Result r = p.result(tag);
                int bytes = counts[tag] * 512;
                assertEquals(0, r.prdbc(), "PRDBC of NCQ tag " + tag + " not updated (as QEMU 7.2)");
                if (kinds[tag] == 0) assertArrayEquals(expect[tag], rig.read(bufs[tag], bytes), "read of tag " + tag);
            }
            assertTrue(rig.msis.size() > msisBefore, "MSI sent");
            assertEquals(0xFEE0_0000L, rig.msis.get(rig.msis.size() - 1)[1]);
        }
        assertTrue(totalReads > 10 && totalWrites > 10 && totalTrims > 10, "a mix: " + totalReads + "/" + totalWrites + "/" + totalTrims);
        disk.flush();
        assertArrayEquals(model, Files.readAllBytes(image), "image file after NCQ rounds");
        // The image model check is not vacuous: the written data differs from the original image.
        byte[] original = new byte[(int) IMAGE_BYTES];
        new Random(13).nextBytes(original);
        assertNotEquals(Arrays.hashCode(original), Arrays.hashCode(model));
        assertEquals("VMM TEST DISK", new String(Arrays.copyOfRange(
                swapPairs(identify(p)), 54, 67), StandardCharsets.US_ASCII));
    }

    private static byte[] swapPairs(byte[] b) {
        byte[] o = b.clone();
        for (int i = 0; i + 1 < o.length; i += 2) {
            o[i] = b[i + 1];
            o[i + 1] = b[i];
        }
        return o;
    }
}
