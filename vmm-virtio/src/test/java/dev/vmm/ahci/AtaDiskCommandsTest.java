package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ATA disk's commands as a guest sees them through the HBA, against ATA8-ACS: the protocols
 * (PIO data-in posts a PIO Setup FIS, DMA and PIO data-out do not, §7 command tables), the 28-bit
 * LBA with bits 27:24 in the device register (§7.22), a count of 0 meaning 256 or 65536 sectors,
 * the capacity boundary, the write cache and FUA (SET FEATURES 02h/82h §7.48.3, WRITE FPDMA QUEUED's
 * FUA bit §7.60), I/O errors (UNC on reads, ABRT on writes), READ VERIFY, FLUSH CACHE, DATA SET
 * MANAGEMENT / TRIM (§7.10: entries, lengths of 0, limits), SEND FPDMA QUEUED's subcommand checks,
 * the general purpose logs (directory, NCQ command error log 10h with its checksum and NQ bit
 * §A.13, NCQ send/receive log 13h), transfer modes (SET FEATURES 03h: IDENTIFY words 63 and 88)
 * and IDENTIFY's geometry and capacity words (§7.16, table 22).
 */
@Timeout(60)
class AtaDiskCommandsTest {
    static final int SECTORS = 4096;

    private AhciRig rig;
    private MemoryDisk disk;
    private AtaDisk ata;
    private AhciDriver.Port port;
    private byte[] data;

    private void setUp(BlockDevice device, AtaDisk.Config config) {
        ata = new AtaDisk(device, config);
        rig = new AhciRig(AhciIo.inline(), ata);
        port = rig.startPort(0);
    }

    private void setUp(boolean discard, int physical) {
        data = new byte[SECTORS * 512];
        new Random(22).nextBytes(data);
        disk = new MemoryDisk(data, false);
        setUp(disk, new AtaDisk.Config("M", "S", "F", physical, discard));
    }

    @AfterEach
    void tearDown() {
        if (rig != null) rig.close();
    }

    private AhciDriver.Result run(byte[] fis, boolean write, long buf, int len) {
        AhciDriver.Result r = len == 0 ? port.issue(0, AhciDriver.Cmd.of(fis, write))
                : port.issue(0, AhciDriver.Cmd.of(fis, write, new long[] {buf, len}));
        if (r.failed()) port.recover();
        return r;
    }

    private AhciDriver.Result aborted(byte[] fis, int len) {
        AhciDriver.Result r = run(fis, false, rig.buffer(Math.max(len, 1)), len);
        assertTrue(r.failed(), "expected an abort: " + r);
        assertEquals(AtaResult.STATUS_ERROR, r.status());
        assertEquals(AtaResult.ABRT, r.error());
        return r;
    }

    private byte[] read(int command, long lba, int count, int device, int bytes) {
        long buf = rig.buffer(bytes);
        AhciDriver.Result r = run(AhciDriver.h2d(command, lba, count, 0, device), false, buf, bytes);
        assertFalse(r.failed(), "read failed: " + r);
        assertEquals(bytes, r.prdbc());
        return rig.read(buf, bytes);
    }

    private static int word(byte[] id, int w) { return (id[2 * w] & 0xFF) | (id[2 * w + 1] & 0xFF) << 8; }

    private byte[] identify() {
        return read(AtaCommand.IDENTIFY_DEVICE, 0, 0, 0, 512);
    }

    private AhciDriver.Result setFeatures(int sub, int count) {
        return run(AhciDriver.h2d(AtaCommand.SET_FEATURES, 0, count, sub, 0), false, 0, 0);
    }

    @Test
    void protocolsAndAddressing() {
        setUp(true, 4096);
        // PIO data-in (READ SECTORS): a PIO Setup FIS with the byte count; DMA: none.
        long buf = rig.buffer(1024);
        AhciDriver.Result pio = run(AhciDriver.h2d(AtaCommand.READ_SECTORS, 3, 2, 0, 0xE0), false, buf, 1024);
        assertEquals(AhciPort.IS_PSS, pio.is() & AhciPort.IS_PSS);
        assertEquals(Fis.TYPE_PIO_SETUP, pio.pio()[0] & 0xFF);
        assertEquals(0x60, pio.pio()[1] & 0x60, "I and D (device to host) bits");
        assertEquals(0x58, pio.pio()[2] & 0xFF, "status: DRDY DSC DRQ");
        assertEquals(0x50, pio.pio()[15] & 0xFF, "E_Status");
        assertEquals(1024, (pio.pio()[16] & 0xFF) | (pio.pio()[17] & 0xFF) << 8);
        assertArrayEquals(Arrays.copyOfRange(data, 3 * 512, 5 * 512), rig.read(buf, 1024));
        port.reg(AhciPort.IS, -1);
        rig.ram.memory.write(port.fb + Fis.RX_PIO_SETUP, new byte[20]);
        AhciDriver.Result dma = run(AhciDriver.h2d(AtaCommand.READ_DMA, 3, 2, 0, 0xE0), false, buf, 1024);
        assertEquals(0, dma.is() & AhciPort.IS_PSS, "no PIO Setup FIS for DMA");
        assertEquals(0, dma.pio()[0]);
        // READ SECTORS EXT is PIO too, READ DMA EXT is not.
        assertEquals(AhciPort.IS_PSS, run(AhciDriver.h2d(AtaCommand.READ_SECTORS_EXT, 3, 2, 0, 0x40), false, buf, 1024).is() & AhciPort.IS_PSS);
        assertEquals(0, run(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 3, 2, 0, 0x40), false, buf, 1024).is() & AhciPort.IS_PSS);
        // PIO data-out (WRITE SECTORS / EXT): D2H only, and the data lands.
        byte[] w = new byte[512];
        new Random(1).nextBytes(w);
        rig.ram.memory.write(buf, w);
        AhciDriver.Result out = run(AhciDriver.h2d(AtaCommand.WRITE_SECTORS, 9, 1, 0, 0xE0), true, buf, 512);
        assertFalse(out.failed());
        assertEquals(0, out.is() & AhciPort.IS_PSS);
        assertArrayEquals(w, Arrays.copyOfRange(data, 9 * 512, 10 * 512));
        assertFalse(run(AhciDriver.h2d(AtaCommand.WRITE_SECTORS_EXT, 10, 1, 0, 0x40), true, buf, 512).failed());
        assertArrayEquals(w, Arrays.copyOfRange(data, 10 * 512, 11 * 512));
        assertFalse(run(AhciDriver.h2d(AtaCommand.WRITE_DMA, 11, 1, 0, 0xE0), true, buf, 512).failed());
        assertArrayEquals(w, Arrays.copyOfRange(data, 11 * 512, 12 * 512));

        // 28-bit LBA: bits 27:24 come from the device register, bits 47:24 of the FIS are not used.
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA, 5, 1, 0, 0xE1), 512); // LBA 0x1000005: beyond the disk
        assertArrayEquals(Arrays.copyOfRange(data, 5 * 512, 6 * 512), read(AtaCommand.READ_DMA, 5 | 1L << 24, 1, 0xE0, 512));
        // 48-bit LBA: all six bytes.
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 5 | 1L << 40, 1, 0, 0x40), 512);
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 5 | 1L << 24, 1, 0, 0x40), 512);
        // A count of 0: 256 sectors for 28-bit commands, 65536 for 48-bit ones (beyond this disk).
        assertArrayEquals(Arrays.copyOfRange(data, 0, 256 * 512), read(AtaCommand.READ_DMA, 0, 0, 0xE0, 256 * 512));
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 0, 0, 0, 0x40), 512);
        // 28-bit counts are 8 bits: count 15:8 is ignored.
        assertArrayEquals(Arrays.copyOfRange(data, 0, 512), read(AtaCommand.READ_DMA, 0, 0x101, 0xE0, 512));
        // The capacity boundary: the last sector reads, one past it does not (ABRT, as QEMU 7.2).
        assertArrayEquals(Arrays.copyOfRange(data, (SECTORS - 2) * 512, SECTORS * 512), read(AtaCommand.READ_DMA_EXT, SECTORS - 2, 2, 0x40, 1024));
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, SECTORS - 1, 2, 0, 0x40), 1024);
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, SECTORS, 1, 0, 0x40), 512);
        // PRDs shorter than the transfer: the guest's mistake, aborted.
        aborted(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 0, 2, 0, 0x40), 1022);
        // An unimplemented command (SMART): aborted.
        aborted(AhciDriver.h2d(0xB0, 0, 0, 0xD0, 0), 512);
    }

    @Test
    void writeCacheFuaAndErrors() {
        setUp(true, 4096);
        long buf = rig.buffer(4096);
        int flushes = disk.flushes;
        assertFalse(run(AhciDriver.h2d(AtaCommand.WRITE_DMA_EXT, 0, 1, 0, 0x40), true, buf, 512).failed());
        assertEquals(flushes, disk.flushes, "write cache on: no flush per write");
        // WRITE FPDMA QUEUED with FUA (device bit 7): flushed.
        port.build(0, AhciDriver.Cmd.of(AhciDriver.ncq(true, 0, 4, 1), true, new long[] {buf, 512}));
        byte[] fua = AhciDriver.ncq(true, 1, 5, 1);
        fua[7] = (byte) 0xC0;
        port.build(1, AhciDriver.Cmd.of(fua, true, new long[] {buf, 512}));
        port.reg(AhciPort.SACT, 1);
        port.reg(AhciPort.CI, 1);
        assertEquals(flushes, disk.flushes, "queued write without FUA");
        port.reg(AhciPort.SACT, 2);
        port.reg(AhciPort.CI, 2);
        assertEquals(flushes + 1, disk.flushes, "queued write with FUA");
        // SET FEATURES 82h: cache off, every write flushed; IDENTIFY word 85 bit 5 follows. 02h: back on.
        assertTrue(ata.writeCacheEnabled());
        assertEquals(0x20, word(identify(), 85) & 0x20);
        assertFalse(setFeatures(0x82, 0).failed());
        assertFalse(ata.writeCacheEnabled());
        assertEquals(0, word(identify(), 85) & 0x20);
        assertFalse(run(AhciDriver.h2d(AtaCommand.WRITE_DMA_EXT, 0, 1, 0, 0x40), true, buf, 512).failed());
        assertEquals(flushes + 2, disk.flushes, "write cache off: the write is flushed");
        assertFalse(setFeatures(0x02, 0).failed());
        assertTrue(ata.writeCacheEnabled());
        assertEquals(new AtaDisk.State(true, 0x45), ata.save());
        // FLUSH CACHE (EXT): flushes.
        assertFalse(run(AhciDriver.h2d(AtaCommand.FLUSH_CACHE, 0, 0, 0, 0), false, 0, 0).failed());
        assertFalse(run(AhciDriver.h2d(AtaCommand.FLUSH_CACHE_EXT, 0, 0, 0, 0), false, 0, 0).failed());
        assertEquals(flushes + 4, disk.flushes);
        // READ VERIFY (EXT): range checks only, no data.
        assertFalse(run(AhciDriver.h2d(AtaCommand.READ_VERIFY, SECTORS - 256, 0, 0, 0xE0), false, 0, 0).failed());
        aborted(AhciDriver.h2d(AtaCommand.READ_VERIFY, SECTORS - 255, 0, 0, 0xE0), 0);
        assertFalse(run(AhciDriver.h2d(AtaCommand.READ_VERIFY_EXT, SECTORS - 4, 4, 0, 0x40), false, 0, 0).failed());
        aborted(AhciDriver.h2d(AtaCommand.READ_VERIFY_EXT, 0, 0, 0, 0x40), 0);
        aborted(AhciDriver.h2d(AtaCommand.READ_VERIFY_EXT, SECTORS - 4, 5, 0, 0x40), 0);
        // I/O errors: a read is UNC (uncorrectable data), a write ABRT, a flush ABRT.
        disk.failing = true;
        AhciDriver.Result r = run(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 0, 1, 0, 0x40), false, buf, 512);
        assertTrue(r.failed());
        assertEquals(AtaResult.UNC, r.error());
        r = run(AhciDriver.h2d(AtaCommand.WRITE_DMA_EXT, 0, 1, 0, 0x40), true, buf, 512);
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error());
        aborted(AhciDriver.h2d(AtaCommand.FLUSH_CACHE, 0, 0, 0, 0), 0);
        disk.failing = false;
    }

    @Test
    void readOnlyDisk() {
        PatternDisk ro = new PatternDisk(SECTORS * 512L);
        setUp(ro, AtaDisk.Config.of("RO"));
        long buf = rig.buffer(512);
        aborted(AhciDriver.h2d(AtaCommand.WRITE_DMA_EXT, 0, 1, 0, 0x40), 512);
        // FLUSH CACHE on a read-only image: nothing to flush, success.
        assertFalse(run(AhciDriver.h2d(AtaCommand.FLUSH_CACHE_EXT, 0, 0, 0, 0), false, 0, 0).failed());
        assertEquals(0, ro.flushes);
        // TRIM on a read-only image: aborted.
        rig.ram.memory.write(buf, AhciDriver.trimList(new long[][] {{0, 1}}));
        aborted(AhciDriver.h2d(AtaCommand.DATA_SET_MANAGEMENT, 0, 1, 1, 0x40), 512);
        assertArrayEquals(PatternDisk.bytes(512, 512), read(AtaCommand.READ_DMA_EXT, 1, 1, 0x40, 512));
    }

    private AhciDriver.Result trim(int features, int blocks, long[][] ranges) {
        long buf = rig.buffer(Math.max(blocks, 1) * 512L);
        byte[] list = AhciDriver.trimList(ranges);
        rig.ram.memory.write(buf, list);
        return run(AhciDriver.h2d(AtaCommand.DATA_SET_MANAGEMENT, 0, blocks, features, 0x40), true, buf, Math.max(blocks, 1) * 512);
    }

    @Test
    void trimRangesAndLimits() {
        setUp(true, 4096);
        // Two ranges and an empty entry (length 0: ignored); PRDBC = the list's bytes.
        AhciDriver.Result r = trim(1, 1, new long[][] {{8, 4}, {100, 0}, {SECTORS - 2, 2}});
        assertFalse(r.failed());
        assertEquals(512, r.prdbc());
        assertEquals(List.of("4096+2048", String.valueOf((SECTORS - 2) * 512L) + "+1024"),
                disk.discards.stream().map(d -> d[0] + "+" + d[1]).toList());
        byte[] zero = new byte[2048];
        assertArrayEquals(zero, Arrays.copyOfRange(data, 8 * 512, 12 * 512));
        // One entry past the end: the whole command is aborted before anything is discarded.
        disk.discards.clear();
        trimAborted(1, 1, new long[][] {{0, 1}, {SECTORS - 1, 2}});
        assertTrue(disk.discards.isEmpty());
        // Without the TRIM bit, with 0 blocks, with more than IDENTIFY word 105 allows: aborted.
        trimAborted(0, 1, new long[][] {{0, 1}});
        trimAborted(1, 0, new long[][] {{0, 1}});
        trimAborted(1, AtaDisk.MAX_TRIM_BLOCKS + 1, new long[][] {{0, 1}});
        // The largest list allowed.
        assertFalse(trim(1, AtaDisk.MAX_TRIM_BLOCKS, new long[][] {{20, 1}}).failed());
        // The image refuses: aborted.
        disk.failing = true;
        trimAborted(1, 1, new long[][] {{0, 1}});
        disk.failing = false;
        // SEND FPDMA QUEUED: subcommand 0 (DSM) with the TRIM function only.
        long buf = rig.buffer(512);
        rig.ram.memory.write(buf, AhciDriver.trimList(new long[][] {{30, 2}}));
        disk.discards.clear();
        assertEquals(AhciPort.IS_SDBS, port.issueQueued(List.of(AhciDriver.Cmd.of(AhciDriver.queuedTrim(0, 1), true, new long[] {buf, 512})))
                & (AhciPort.IS_SDBS | AhciPort.IS_TFES));
        assertEquals(1, disk.discards.size());
        byte[] otherSub = AhciDriver.queuedTrim(0, 1);
        otherSub[13] = 0x01; // count 12:8: subcommand 1 (not DATA SET MANAGEMENT)
        assertEquals(AhciPort.IS_TFES, port.issueQueued(List.of(AhciDriver.Cmd.of(otherSub, true, new long[] {buf, 512}))) & AhciPort.IS_TFES);
        port.recover();
        byte[] noTrim = AhciDriver.queuedTrim(0, 1);
        noTrim[16] = 0;
        assertEquals(AhciPort.IS_TFES, port.issueQueued(List.of(AhciDriver.Cmd.of(noTrim, true, new long[] {buf, 512}))) & AhciPort.IS_TFES);
        port.recover();
        assertEquals(1, disk.discards.size());
    }

    private void trimAborted(int features, int blocks, long[][] ranges) {
        AhciDriver.Result r = trim(features, blocks, ranges);
        assertTrue(r.failed());
        assertEquals(AtaResult.ABRT, r.error());
    }

    @Test
    void trimWithoutDiscardIsAcceptedAndIgnored() {
        setUp(false, 512);
        assertFalse(trim(1, 1, new long[][] {{8, 4}}).failed());
        assertTrue(disk.discards.isEmpty());
        assertEquals(0x4000, word(identify(), 106), "512-byte physical sectors: word 106 without the ratio");
    }

    private static byte[] readLog(int command, int log, int page, int count) {
        return AhciDriver.h2d(command, log | (long) (page & 0xFF) << 8 | (long) (page >> 8) << 32, count, 0, 0x40);
    }

    @Test
    void generalPurposeLogs() {
        setUp(true, 4096);
        long buf = rig.buffer(512);
        AhciDriver.Result r = run(readLog(AtaCommand.READ_LOG_EXT, AtaDisk.LOG_DIRECTORY, 0, 1), false, buf, 512);
        assertFalse(r.failed());
        assertEquals(AhciPort.IS_PSS, r.is() & AhciPort.IS_PSS, "READ LOG EXT is PIO data-in");
        byte[] dir = rig.read(buf, 512);
        assertEquals(1, dir[0], "directory version");
        assertEquals(1, dir[2 * 0x10], "log 10h: one page");
        assertEquals(1, dir[2 * 0x13], "log 13h: one page");
        assertEquals(3, countNonZero(dir));
        // Log 13h: SEND FPDMA QUEUED with DATA SET MANAGEMENT, TRIM.
        byte[] sr = readLogBytes(AtaCommand.READ_LOG_DMA_EXT, 0x13);
        assertEquals(1, sr[0]);
        assertEquals(1, sr[4]);
        assertEquals(2, countNonZero(sr));
        // Log 10h with no NCQ error: NQ set.
        assertEquals((byte) 0x80, readLogBytes(AtaCommand.READ_LOG_DMA_EXT, 0x10)[0]);
        // A failed NCQ command: its tag, status, error, LBA, device and count, and a checksum; read once.
        byte[] bad = AhciDriver.ncq(false, 5, SECTORS + 0x0506L | 0x0403_0000_0000L, 3);
        bad[7] = 0x40;
        port.build(5, AhciDriver.Cmd.of(bad, false, new long[] {buf, 3 * 512}));
        port.reg(AhciPort.IS, -1);
        port.reg(AhciPort.SACT, 1 << 5);
        port.reg(AhciPort.CI, 1 << 5);
        assertTrue((port.reg(AhciPort.IS) & AhciPort.IS_TFES) != 0);
        port.recover();
        byte[] log = readLogBytes(AtaCommand.READ_LOG_EXT, 0x10);
        long badLba = SECTORS + 0x0506L | 0x0403_0000_0000L;
        assertEquals(5, log[0], "NCQ tag, NQ clear");
        assertEquals(AtaResult.STATUS_ERROR, log[2] & 0xFF);
        assertEquals(AtaResult.ABRT, log[3]);
        assertArrayEquals(new byte[] {(byte) badLba, (byte) (badLba >> 8), (byte) (badLba >> 16), 0x40, (byte) (badLba >> 24),
                (byte) (badLba >> 32), (byte) (badLba >> 40)}, Arrays.copyOfRange(log, 4, 11));
        assertEquals(5 << 3, log[12] & 0xFF, "count 7:0: the tag field");
        assertEquals(0, log[13]);
        int sum = 0;
        for (byte b : log) sum += b & 0xFF;
        assertEquals(0, sum & 0xFF, "checksum byte 511");
        assertEquals((byte) 0x80, readLogBytes(AtaCommand.READ_LOG_EXT, 0x10)[0], "the log clears when read");
        // Count other than 1, a page other than 0, an unknown log: aborted.
        aborted(readLog(AtaCommand.READ_LOG_EXT, 0x10, 0, 2), 1024);
        aborted(readLog(AtaCommand.READ_LOG_EXT, 0x10, 1, 1), 512);
        aborted(readLog(AtaCommand.READ_LOG_EXT, 0x10, 0x100, 1), 512);
        aborted(readLog(AtaCommand.READ_LOG_EXT, 0x11, 0, 1), 512);
        aborted(readLog(AtaCommand.READ_LOG_DMA_EXT, 0x00, 0, 1), 511);
    }

    private byte[] readLogBytes(int command, int log) {
        long buf = rig.buffer(512);
        AhciDriver.Result r = run(readLog(command, log, 0, 1), false, buf, 512);
        assertFalse(r.failed());
        assertEquals(512, r.prdbc());
        return rig.read(buf, 512);
    }

    private static int countNonZero(byte[] b) {
        int n = 0;
        for (byte x : b) if (x != 0) n++;
        return n;
    }

    @Test
    void transferModes() {
        setUp(true, 4096);
        byte[] id = identify();
        assertEquals(0x0007, word(id, 63), "multiword DMA 0-2, none selected");
        assertEquals(0x207F, word(id, 88), "UDMA 0-6, mode 5 selected");
        // Multiword DMA 2 selected: word 63 bit 10, no UDMA mode selected.
        assertFalse(setFeatures(0x03, 0x22).failed());
        id = identify();
        assertEquals(0x0407, word(id, 63));
        assertEquals(0x007F, word(id, 88));
        assertEquals(new AtaDisk.State(true, 0x22), ata.save());
        // MWDMA 0 and UDMA 6 at the ends of their ranges.
        assertFalse(setFeatures(0x03, 0x20).failed());
        assertEquals(0x0107, word(identify(), 63));
        assertFalse(setFeatures(0x03, 0x46).failed());
        assertEquals(0x407F, word(identify(), 88));
        assertEquals(0x0007, word(identify(), 63));
        // PIO modes (default, 0-4) are accepted and do not change the DMA mode.
        for (int mode : new int[] {0x00, 0x01, 0x08, 0x0C}) assertFalse(setFeatures(0x03, mode).failed(), "mode " + mode);
        assertEquals(0x407F, word(identify(), 88));
        // Modes that do not exist: aborted.
        for (int mode : new int[] {0x02, 0x07, 0x0D, 0x1F, 0x23, 0x3F, 0x47, 0x80}) {
            assertTrue(setFeatures(0x03, mode).failed(), "mode " + Integer.toHexString(mode));
        }
        // Other subcommands: accepted (SATA features, look-ahead, defaults) or aborted.
        for (int sub : new int[] {0x10, 0x90, 0xAA, 0x55, 0x66, 0xCC}) assertFalse(setFeatures(sub, 0).failed());
        for (int sub : new int[] {0x01, 0x05, 0x85, 0xFF}) assertTrue(setFeatures(sub, 0).failed());
        // Restored drive state.
        ata.restore(new AtaDisk.State(false, 0x41));
        id = identify();
        assertEquals(0x027F, word(id, 88));
        assertEquals(0, word(id, 85) & 0x20);
    }

    @Test
    void identifyGeometryAndCapacity() {
        // 1000 sectors: fewer than one 16 x 63 cylinder.
        setUp(new PatternDisk(1000 * 512L), AtaDisk.Config.of("G"));
        byte[] id = identify();
        assertEquals(1, word(id, 1), "at least one cylinder");
        assertEquals(1, word(id, 54));
        assertEquals(16 * 63, word(id, 57) | word(id, 58) << 16, "current CHS capacity");
        assertEquals(1000, word(id, 60) | word(id, 61) << 16);
        assertEquals(1000, word(id, 100));
        assertEquals(0x6003, word(id, 106), "4096-byte physical sectors");
        assertEquals(AtaDisk.MAX_TRIM_BLOCKS, word(id, 105));
        assertEquals(1000, ata.sectors());
        rig.close();
        // 200 GiB: the CHS fields stop at 16383 cylinders, the 28-bit capacity at 0x0FFFFFFF.
        long sectors = 200L << 21;
        setUp(new PatternDisk(sectors * 512), AtaDisk.Config.of("G"));
        id = identify();
        assertEquals(16383, word(id, 1));
        assertEquals(16383, word(id, 54));
        assertEquals(16383L * 16 * 63, word(id, 57) | (long) word(id, 58) << 16);
        assertEquals(0x0FFF_FFFFL, word(id, 60) | (long) word(id, 61) << 16);
        assertEquals(sectors, word(id, 100) | (long) word(id, 101) << 16 | (long) word(id, 102) << 32 | (long) word(id, 103) << 48);
        rig.close();
        rig = null;
        // Configuration checks.
        assertThrows(IllegalArgumentException.class, () -> new AtaDisk.Config("M", "S", "F", 1024, true));
        AtaDisk.Config c = new AtaDisk.Config("M\u0001" + "x".repeat(50), "s".repeat(30), "f".repeat(9), 512, false);
        assertEquals(40, c.model().length());
        assertEquals("M" + "x".repeat(39), c.model());
        assertEquals(20, c.serial().length());
        assertEquals(8, c.firmware().length());
    }
}
