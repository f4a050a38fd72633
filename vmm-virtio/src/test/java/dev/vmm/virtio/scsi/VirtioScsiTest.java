package dev.vmm.virtio.scsi;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.block.TestDisk;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.BlkBackendQueue;
import dev.vmm.virtio.blk.CacheMode;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.queue.TestRings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.vmm.virtio.scsi.VirtioScsi.*;
import static org.junit.jupiter.api.Assertions.*;

@Timeout(value = 60, unit = TimeUnit.SECONDS) // backstop; each wait inside fails after ScsiHarness.WAIT_MS
class VirtioScsiTest {
    static final long DISK = 16L << 20;

    @TempDir
    Path tmp;

    final List<BlockDevice> opened = new ArrayList<>();

    @AfterEach
    void closeDisks() {
        opened.forEach(BlockDevice::close);
    }

    Path image(long size) throws Exception {
        Path p = Files.createTempFile(tmp, "disk", ".raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    ScsiDisk disk(Path img, String serial) {
        BlockDevice d = Images.open(img, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW));
        opened.add(d);
        return new ScsiDisk(d, ScsiDisk.Config.of(serial));
    }

    ScsiHarness harness(int queues, int threads, ScsiDisk... disks) throws Exception {
        return new ScsiHarness(new ScsiTarget(List.of(disks)), ScsiConfig.of(queues).withQueueSize(64), threads);
    }

    static byte[] pattern(int len, long seed) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] rw16(int op, long lba, int blocks) {
        byte[] c = new byte[16];
        c[0] = (byte) op;
        MemorySegment.ofArray(c).set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 2, lba);
        MemorySegment.ofArray(c).set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 10, blocks);
        return c;
    }

    static byte[] rw10(int op, long lba, int blocks) {
        byte[] c = new byte[10];
        c[0] = (byte) op;
        MemorySegment.ofArray(c).set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 2, (int) lba);
        c[7] = (byte) (blocks >> 8);
        c[8] = (byte) blocks;
        return c;
    }

    static long be(byte[] b, int at, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) v = (v << 8) | (b[at + i] & 0xFF);
        return v;
    }

    static long stBlocks(Path p) {
        int fd = Libc.open(p.toString(), Libc.O_RDONLY, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            return st.get(ValueLayout.JAVA_LONG, Libc.STAT.byteOffset(MemoryLayout.PathElement.groupElement("st_blocks")));
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void featuresQueuesAndConfigSpace() throws Exception {
        try (ScsiHarness h = harness(3, 1, disk(image(DISK), "a"), disk(image(DISK), "b"))) {
            assertEquals(VirtioDeviceType.SCSI, h.dev.deviceType());
            assertEquals(5, h.dev.queueCount());
            long f = h.dev.deviceFeatures();
            assertTrue(VirtioFeatures.has(f, VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX | VirtioFeatures.VIRTIO_F_INDIRECT_DESC));
            assertEquals(VIRTIO_SCSI_F_HOTPLUG, f & (VIRTIO_SCSI_F_HOTPLUG | VIRTIO_SCSI_F_INOUT | VIRTIO_SCSI_F_T10_PI));
            assertEquals(3, h.dev.readConfig(0, 4));
            assertEquals(62, h.dev.readConfig(4, 4)); // seg_max = queue size - 2
            assertEquals(0xFFFF, h.dev.readConfig(8, 4));
            assertEquals(64, h.dev.readConfig(12, 4));
            assertEquals(16, h.dev.readConfig(16, 4));
            assertEquals(96, h.dev.readConfig(20, 4));
            assertEquals(32, h.dev.readConfig(24, 4));
            assertEquals(0, h.dev.readConfig(28, 2));
            assertEquals(0, h.dev.readConfig(30, 2));
            assertEquals(ScsiTarget.MAX_LUN, h.dev.readConfig(32, 4)); // max_lun: any LUN may be hot-plugged
            assertEquals(0, h.dev.readConfig(36, 4));
            h.dev.writeConfig(0, 4, 7); // read-only field
            assertEquals(3, h.dev.readConfig(0, 4));
            h.dev.writeConfig(24, 4, 1000); // CDB too long: ignored
            assertEquals(32, h.dev.readConfig(24, 4));
            h.dev.writeConfig(20, 4, 8);
            assertEquals(8, h.dev.readConfig(20, 4));
            h.dev.reset();
            assertEquals(96, h.dev.readConfig(20, 4), "reset restores sense_size");
        }
    }

    /**
     * The two driver-writable fields at their limits (PIT: the boundaries were unchecked):
     * sense_size below 65536, cdb_size 6..255, whole 32-bit stores only; and the sizes the
     * transport reads.
     */
    @Test
    void configWritesAreTakenUpToTheirLimitsOnly() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            assertEquals(CONFIG_SIZE, h.dev.configSize());
            assertEquals(36, CONFIG_SIZE);
            assertEquals(64, h.dev.queueMaxSize(FIRST_REQUEST_QUEUE));
            h.dev.writeConfig(20, 4, 65535);
            assertEquals(65535, h.dev.readConfig(20, 4), "largest sense_size");
            h.dev.writeConfig(20, 4, 65536);
            assertEquals(65535, h.dev.readConfig(20, 4), "65536 ignored");
            h.dev.writeConfig(20, 4, 0);
            assertEquals(0, h.dev.readConfig(20, 4), "no sense at all is allowed");
            h.dev.writeConfig(20, 2, 8);
            assertEquals(0, h.dev.readConfig(20, 4), "a 2-byte store is ignored");
            h.dev.writeConfig(24, 4, 6);
            assertEquals(6, h.dev.readConfig(24, 4), "smallest cdb_size");
            h.dev.writeConfig(24, 4, 5);
            assertEquals(6, h.dev.readConfig(24, 4), "5 ignored");
            h.dev.writeConfig(24, 4, 255);
            assertEquals(255, h.dev.readConfig(24, 4), "largest cdb_size");
            h.dev.writeConfig(24, 4, 256);
            assertEquals(255, h.dev.readConfig(24, 4), "256 ignored");
            h.dev.writeConfig(24, 4, 0x1_0000_0010L);
            assertEquals(16, h.dev.readConfig(24, 4), "only the low 32 bits count");
        }
    }

    @Test
    void inquiryReportLunsAndReadCapacity16ThroughTheQueue() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "first"), disk(image(2 * DISK), "second"))) {
            ScsiHarness.Resp r = h.cmd(0, new byte[] {0x12, 0, 0, 0, 96, 0}, null, 96);
            assertEquals(S_OK, r.response());
            assertEquals(0, r.status());
            assertEquals(96 - 66, r.resid());
            assertEquals(ScsiHarness.RESP + 66, r.usedLen());
            assertEquals("VMM     VIRTUAL DISK    ", new String(r.data(), 8, 24));

            byte[] rl = new byte[12];
            rl[0] = (byte) 0xA0;
            rl[9] = (byte) 64;
            r = h.cmd(0, rl, null, 64);
            assertEquals(16, be(r.data(), 0, 4));
            assertEquals(0, be(r.data(), 8, 8));
            assertEquals(1L << 48, be(r.data(), 16, 8));

            byte[] rc = new byte[16];
            rc[0] = (byte) 0x9E;
            rc[1] = 0x10;
            rc[13] = 32;
            r = h.cmd(1, rc, null, 32);
            assertEquals(0, r.status());
            assertEquals(2 * DISK / 512 - 1, be(r.data(), 0, 8));
            assertEquals(512, be(r.data(), 8, 4));

            // An absent LUN: INQUIRY says "no unit", other commands LOGICAL UNIT NOT SUPPORTED.
            r = h.cmd(9, new byte[] {0x12, 0, 0, 0, 96, 0}, null, 96);
            assertEquals(0x7F, r.data()[0] & 0xFF);
            r = h.cmd(9, new byte[6], null, 0);
            assertEquals(2, r.status());
            assertEquals(0x25, r.asc());
            // Another target: BAD_TARGET from the transport.
            byte[] lun = ScsiHarness.lun(0);
            lun[1] = 1;
            r = h.command(FIRST_REQUEST_QUEUE, lun, new byte[] {0x12, 0, 0, 0, 96, 0}, null, 96);
            assertEquals(S_BAD_TARGET, r.response());
            assertEquals(96, r.resid());
            lun[0] = 0;
            lun[1] = 0;
            assertEquals(S_BAD_TARGET, h.command(FIRST_REQUEST_QUEUE, lun, new byte[6], null, 0).response());
            assertTrue(h.irq.needsReset.isEmpty());
            assertTrue(h.irq.used.get(FIRST_REQUEST_QUEUE) > 0);
        }
    }

    @Test
    void writeReadVerifyAtSeveralLbasAndTheFileHoldsTheData() throws Exception {
        Path img = image(DISK);
        long[] lbas = {0, 9, 777, DISK / 512 - 8};
        try (ScsiHarness h = harness(1, 1, disk(img, "d"))) {
            for (long lba : lbas) {
                byte[] data = pattern(8 * 512, lba);
                ScsiHarness.Resp w = h.cmd(0, rw16(0x8A, lba, 8), data, 0);
                assertEquals(S_OK, w.response());
                assertEquals(0, w.status(), "write at " + lba);
                assertEquals(0, w.resid());
                assertEquals(ScsiHarness.RESP, w.usedLen());
            }
            assertEquals(0, h.cmd(0, new byte[] {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, null, 0).status(), "SYNCHRONIZE CACHE");
            for (long lba : lbas) {
                ScsiHarness.Resp r = h.cmd(0, rw10(0x28, lba, 8), null, 8 * 512);
                assertEquals(0, r.status());
                assertEquals(ScsiHarness.RESP + 8 * 512, r.usedLen());
                assertArrayEquals(pattern(8 * 512, lba), r.data(), "read at " + lba);
            }
        }
        byte[] file = Files.readAllBytes(img);
        for (long lba : lbas) {
            assertArrayEquals(pattern(8 * 512, lba), Arrays.copyOfRange(file, (int) lba * 512, (int) lba * 512 + 8 * 512));
        }
    }

    /** Counts what reaches an asynchronous data path (so the test knows which path ran a command). */
    static final class CountingBackend implements BlkBackend {
        final BlkBackend inner;
        final java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger(),
                writes = new java.util.concurrent.atomic.AtomicInteger(), flushes = new java.util.concurrent.atomic.AtomicInteger();

        CountingBackend(BlkBackend inner) { this.inner = inner; }

        @Override public long size() { return inner.size(); }
        @Override public boolean readOnly() { return inner.readOnly(); }
        @Override public boolean supportsDiscard() { return inner.supportsDiscard(); }
        @Override public boolean supportsWriteZeroes() { return inner.supportsWriteZeroes(); }
        @Override public boolean writeThrough() { return inner.writeThrough(); }
        @Override public String defaultSerial() { return inner.defaultSerial(); }
        @Override public void close() { inner.close(); }

        @Override
        public BlkBackendQueue openQueue(dev.vmm.virtio.io.IoThread thread, dev.vmm.virtio.blk.BlkCompletionSink sink) {
            BlkBackendQueue q = inner.openQueue(thread, sink);
            return new BlkBackendQueue() {
                @Override public void read(long o, MemorySegment iov, int n, long t) { reads.incrementAndGet(); q.read(o, iov, n, t); }
                @Override public void write(long o, MemorySegment iov, int n, long t) { writes.incrementAndGet(); q.write(o, iov, n, t); }
                @Override public void flush(long t) { flushes.incrementAndGet(); q.flush(t); }
                @Override public void discard(long o, long l, long t) { q.discard(o, l, t); }
                @Override public void writeZeroes(long o, long l, boolean u, long t) { q.writeZeroes(o, l, u, t); }
                @Override public int inFlight() { return q.inFlight(); }
                @Override public void close() { q.close(); }
            };
        }
    }

    @Test
    void readsAndWritesTakeTheIoUringDataPathAndEverythingElseTheStore() throws Exception {
        Path img = image(DISK);
        // The data path holds the image lock; the store (same file, same page cache) opens it unlocked.
        CountingBackend fast = new CountingBackend(UringRawBackend.open(img, false, CacheMode.WRITEBACK));
        BlockDevice bd = Images.open(img, Images.Options.readWriteDefaults().withFormat(ImageFormat.RAW).withLock(false));
        opened.add(bd);
        ScsiDisk d = new ScsiDisk(bd, ScsiDisk.Config.of("fast"));
        try (fast; ScsiHarness h = new ScsiHarness(new ScsiTarget(List.of(d)), ScsiConfig.of(1).withQueueSize(64), 1, List.of(fast))) {
            long[] lbas = {0, 4095, DISK / 512 - 16};
            for (long lba : lbas) {
                byte[] w = rw16(0x8A, lba, 16);
                if (lba == 0) w[1] = 0x08; // FUA: the write, then a flush, then the answer
                ScsiHarness.Resp r = h.cmd(0, w, pattern(16 * 512, lba), 0);
                assertEquals(S_OK, r.response());
                assertEquals(0, r.status(), r.toString());
                assertEquals(0, r.resid());
            }
            assertEquals(3, fast.writes.get());
            assertEquals(1, fast.flushes.get(), "FUA");
            for (long lba : lbas) {
                ScsiHarness.Resp r = h.cmd(0, rw10(0x28, lba, 16), null, 20 * 512);
                assertEquals(0, r.status());
                assertEquals(4 * 512, r.resid(), "a bigger buffer: residual");
                assertEquals(ScsiHarness.RESP + 16 * 512, r.usedLen());
                assertArrayEquals(pattern(16 * 512, lba), Arrays.copyOf(r.data(), 16 * 512), "read at " + lba);
            }
            assertEquals(3, fast.reads.get());
            // Errors and everything but READ/WRITE are the target's, through the store: same sense as ever.
            ScsiHarness.Resp r = h.cmd(0, rw16(0x88, DISK / 512 - 1, 2), null, 1024);
            assertEquals(5, r.senseKey());
            assertEquals(0x21, r.asc(), "LBA OUT OF RANGE");
            assertEquals(S_OVERRUN, h.cmd(0, rw10(0x28, 0, 8), null, 4 * 512).response());
            byte[] ws = rw16(0x93, 100, 4);
            byte[] block = pattern(512, 99);
            assertEquals(0, h.cmd(0, ws, block, 0).status(), "WRITE SAME through the store");
            r = h.cmd(0, rw10(0x28, 100, 4), null, 4 * 512);
            for (int i = 0; i < 4; i++) assertArrayEquals(block, Arrays.copyOfRange(r.data(), i * 512, i * 512 + 512), "coherent with the store");
            assertEquals(3 + 1, fast.reads.get());
            assertEquals(3, fast.writes.get());
            assertTrue(h.irq.needsReset.isEmpty(), h.irq.needsReset.toString());
        }
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(pattern(16 * 512, 4095), Arrays.copyOfRange(file, 4095 * 512, 4095 * 512 + 16 * 512), "the file holds the data");
    }

    @Test
    void errorsComeBackAsSense() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            ScsiHarness.Resp r = h.cmd(0, rw16(0x88, DISK / 512, 1), null, 512);
            assertEquals(S_OK, r.response());
            assertEquals(2, r.status(), "CHECK CONDITION");
            assertEquals(18, r.senseLen());
            assertEquals(0x70, r.sense()[0]);
            assertEquals(5, r.senseKey());
            assertEquals(0x21, r.asc(), "LBA OUT OF RANGE");
            assertEquals(512, r.resid());

            r = h.cmd(0, new byte[] {(byte) 0xE5, 0, 0, 0, 0, 0}, null, 0);
            assertEquals(2, r.status());
            assertEquals(0x20, r.asc(), "INVALID COMMAND OPERATION CODE");

            // A READ of 8 blocks into a 4-block buffer: OVERRUN, nothing transferred.
            r = h.cmd(0, rw10(0x28, 0, 8), null, 4 * 512);
            assertEquals(S_OVERRUN, r.response());
            assertEquals(4 * 512, r.resid());
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }

    @Test
    void unmapReleasesHostBlocksAndWriteSameUnmapToo() throws Exception {
        Path img = image(DISK);
        Files.write(img, pattern((int) DISK, 3), java.nio.file.StandardOpenOption.WRITE);
        long before = stBlocks(img);
        try (ScsiHarness h = harness(1, 1, disk(img, "d"))) {
            byte[] list = new byte[24];
            list[1] = 22;
            list[3] = 16;
            MemorySegment.ofArray(list).set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 8, 2048);
            MemorySegment.ofArray(list).set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 16, 4096); // 2 MiB
            byte[] unmap = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
            ScsiHarness.Resp r = h.cmd(0, unmap, list, 0);
            assertEquals(0, r.status(), r.toString());
            long afterUnmap = stBlocks(img);
            assertTrue(afterUnmap <= before - 4096 * 512 / 512, "st_blocks " + before + " -> " + afterUnmap);
            r = h.cmd(0, rw10(0x28, 2048, 8), null, 4096);
            assertArrayEquals(new byte[4096], r.data());

            byte[] ws = rw16(0x93, 8192, 2048); // 1 MiB
            ws[1] = 0x08; // UNMAP
            r = h.cmd(0, ws, new byte[512], 0);
            assertEquals(0, r.status());
            assertTrue(stBlocks(img) <= afterUnmap - 2048, "WRITE SAME with UNMAP punched a hole");

            byte[] vpd = h.cmd(0, new byte[] {0x12, 1, (byte) 0xB2, 0, 8, 0}, null, 8).data();
            assertEquals(0xE0, vpd[5] & 0xE0);
        }
    }

    @Test
    void taskManagementOnTheControlQueue() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            byte[] l0 = ScsiHarness.lun(0);
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_ABORT_TASK, l0));
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_LOGICAL_UNIT_RESET, l0));
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_I_T_NEXUS_RESET, l0));
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_QUERY_TASK, l0));
            assertEquals(S_FUNCTION_REJECTED, h.tmf(TMF_CLEAR_ACA, l0));
            assertEquals(S_FUNCTION_REJECTED, h.tmf(99, l0));
            assertEquals(S_INCORRECT_LUN, h.tmf(TMF_LOGICAL_UNIT_RESET, ScsiHarness.lun(5)));
            byte[] other = ScsiHarness.lun(0);
            other[1] = 3;
            assertEquals(S_BAD_TARGET, h.tmf(TMF_ABORT_TASK_SET, other));

            // AN query: no event classes, OK.
            long req = h.alloc(16), resp = h.alloc(5);
            h.mem.writeU32(req, T_AN_QUERY);
            h.mem.write(req + 4, l0);
            h.mem.writeU32(req + 12, 0xFF);
            h.mem.write(resp, new byte[] {9, 9, 9, 9, 9});
            h.add(CONTROL_QUEUE, List.of(new long[] {req, 16, 0}, new long[] {resp, 5, 1}));
            h.dev.queueNotify(CONTROL_QUEUE);
            TestRings.Used u = h.waitUsed(CONTROL_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(u);
            assertEquals(5, u.len());
            assertEquals(0, h.mem.readU32(resp));
            assertEquals(S_OK, h.mem.readU8(resp + 4));

            // Unknown control type: FAILURE in the first byte.
            h.mem.writeU32(req, 77);
            h.add(CONTROL_QUEUE, List.of(new long[] {req, 16, 0}, new long[] {resp, 1, 1}));
            h.dev.queueNotify(CONTROL_QUEUE);
            assertNotNull(h.waitUsed(CONTROL_QUEUE, ScsiHarness.WAIT_MS));
            assertEquals(S_FAILURE, h.mem.readU8(resp));
            assertTrue(h.irq.used.get(CONTROL_QUEUE) > 0);
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }

    /** A disk whose reads wait for a latch, to hold commands in flight. */
    static final class GatedStore implements TestDisk {
        final byte[] data = new byte[1 << 20];
        final CountDownLatch gate = new CountDownLatch(1);
        final CountDownLatch entered = new CountDownLatch(1);

        @Override public long size() { return data.length; }
        @Override public boolean readOnly() { return false; }
        @Override public void read(long o, MemorySegment dst) {
            entered.countDown();
            try {
                gate.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            MemorySegment.copy(MemorySegment.ofArray(data), o, dst, 0, dst.byteSize());
        }
        @Override public void write(long o, MemorySegment src) { MemorySegment.copy(src, 0, MemorySegment.ofArray(data), o, src.byteSize()); }
        @Override public void flush() { }
        @Override public void discard(long o, long n) { }
        @Override public void writeZeroes(long o, long n, boolean u) { }
    }

    @Test
    void resetTaskManagementWaitsForCommandsInFlight() throws Exception {
        GatedStore store = new GatedStore();
        try (ScsiHarness h = harness(1, 1, new ScsiDisk(store, ScsiDisk.Config.of("g")))) {
            h.beforeClose(store.gate::countDown); // a failed assertion must not leave the read held
            long[] p = h.post(FIRST_REQUEST_QUEUE, ScsiHarness.lun(0), rw10(0x28, 0, 1), null, 512);
            h.dev.queueNotify(FIRST_REQUEST_QUEUE);
            assertTrue(store.entered.await(ScsiHarness.WAIT_MS, TimeUnit.MILLISECONDS));
            // The I/O thread is not blocked: INQUIRY on the same queue completes meanwhile.
            assertEquals(0, h.command(FIRST_REQUEST_QUEUE, ScsiHarness.lun(0), new byte[] {0x12, 0, 0, 0, 36, 0}, null, 36).status());
            long[] t = h.postTmf(TMF_LOGICAL_UNIT_RESET, ScsiHarness.lun(0));
            // Barrier: a QUERY TASK behind it on the same control queue. The control worker pops in
            // order, so once the query is answered the reset has been handled (and parked) before it.
            long[] q = h.postTmf(TMF_QUERY_TASK, ScsiHarness.lun(0));
            TestRings.Used first = h.waitUsed(CONTROL_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(first, "control queue answered nothing; log " + h.log);
            assertEquals(q[0], first.id(), "LUN reset answered while a command is in flight");
            assertEquals(S_FUNCTION_SUCCEEDED, h.mem.readU8(q[1]), "QUERY TASK sees the command in flight");
            assertNull(h.drivers[CONTROL_QUEUE].pollUsed(), "LUN reset answered while a command is in flight");
            store.gate.countDown();
            TestRings.Used u = h.waitUsed(FIRST_REQUEST_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(u, "the held READ did not complete once released");
            assertEquals(p[0], u.id());
            TestRings.Used tu = h.waitUsed(CONTROL_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(tu);
            assertEquals(t[0], tu.id());
            assertEquals(S_FUNCTION_COMPLETE, h.mem.readU8(t[1]));
        }
    }

    @Test
    void twoRequestQueuesOnTwoThreadsConcurrently() throws Exception {
        Path img = image(DISK);
        try (ScsiHarness h = harness(2, 2, disk(img, "d"))) {
            ExecutorService ex = Executors.newFixedThreadPool(2);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int q = 0; q < 2; q++) {
                    int queue = FIRST_REQUEST_QUEUE + q;
                    fs.add(ex.submit(() -> {
                        for (int i = 0; i < 40; i++) {
                            long lba = (queue * 1000L) + i * 16;
                            byte[] data = pattern(16 * 512, lba);
                            ScsiHarness.Resp w = h.command(queue, ScsiHarness.lun(0), rw10(0x2A, lba, 16), data, 0);
                            assertEquals(0, w.status());
                            ScsiHarness.Resp r = h.command(queue, ScsiHarness.lun(0), rw10(0x28, lba, 16), null, 16 * 512);
                            assertArrayEquals(data, r.data());
                        }
                        return null;
                    }));
                }
                for (Future<?> f : fs) f.get(60, TimeUnit.SECONDS); // each command fails on its own after WAIT_MS
            } finally {
                ex.shutdown();
            }
            assertTrue(h.irq.used.get(FIRST_REQUEST_QUEUE) > 0);
            assertTrue(h.irq.used.get(FIRST_REQUEST_QUEUE + 1) > 0);
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }

    @Test
    void malformedChains() throws Exception {
        try (ScsiHarness h = harness(2, 1, disk(image(DISK), "d"))) {
            int q = FIRST_REQUEST_QUEUE;
            // Short request header (20 bytes): FAILURE, the queue goes on.
            long req = h.alloc(20), resp = h.alloc(ScsiHarness.RESP);
            h.mem.write(req, ScsiHarness.lun(0));
            int head = h.add(q, List.of(new long[] {req, 20, 0}, new long[] {resp, ScsiHarness.RESP, 1}));
            h.dev.queueNotify(q);
            TestRings.Used u = h.waitUsed(q, ScsiHarness.WAIT_MS);
            assertEquals(head, u.id());
            assertEquals(S_FAILURE, h.mem.readU8(resp + 11));
            assertEquals(0, h.cmd(0, new byte[6], null, 0).status());

            // A header split over three descriptors works.
            long a = h.alloc(5), b = h.alloc(14), c = h.alloc(32), rs = h.alloc(ScsiHarness.RESP), in = h.alloc(36);
            h.mem.write(a, Arrays.copyOf(ScsiHarness.lun(0), 5));
            h.mem.write(b, Arrays.copyOfRange(ScsiHarness.lun(0), 5, 8)); // rest of the LUN, then tag etc. (zero)
            h.mem.write(c, Arrays.copyOf(new byte[] {0x12, 0, 0, 0, 36, 0}, 32));
            head = h.add(q, List.of(new long[] {a, 5, 0}, new long[] {b, 14, 0}, new long[] {c, 32, 0},
                    new long[] {rs, ScsiHarness.RESP, 1}, new long[] {in, 36, 1}));
            h.dev.queueNotify(q);
            u = h.waitUsed(q, ScsiHarness.WAIT_MS);
            assertEquals(head, u.id());
            assertEquals(S_OK, h.mem.readU8(rs + 11));
            assertEquals('V', h.mem.readU8(in + 8));

            // No room for the response: the queue needs a reset, the other request queue still serves.
            long r2 = h.alloc(ScsiHarness.REQ), small = h.alloc(10);
            h.mem.write(r2, ScsiHarness.lun(0));
            h.add(q, List.of(new long[] {r2, ScsiHarness.REQ, 0}, new long[] {small, 10, 1}));
            h.dev.queueNotify(q);
            long deadline = System.nanoTime() + ScsiHarness.WAIT_MS * 1_000_000;
            while (h.irq.needsReset.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(1, h.irq.needsReset.size());
            assertTrue(h.irq.needsReset.peek().contains("writable"), h.irq.needsReset.peek());
            assertEquals(0, h.command(q + 1, ScsiHarness.lun(0), new byte[6], null, 0).status());
        }
    }

    @Test
    void ringErrorNeedsReset() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            h.drivers[FIRST_REQUEST_QUEUE].publishRaw(1000); // head beyond the queue size
            h.dev.queueNotify(FIRST_REQUEST_QUEUE);
            long deadline = System.nanoTime() + ScsiHarness.WAIT_MS * 1_000_000;
            while (h.irq.needsReset.isEmpty() && System.nanoTime() < deadline) Thread.sleep(1);
            assertFalse(h.irq.needsReset.isEmpty());
            // The control queue (another queue) still answers.
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_ABORT_TASK, ScsiHarness.lun(0)));
        }
    }

    @Test
    void senseIsTruncatedToTheDriverWrittenSenseSize() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            ScsiHarness.Resp r = h.cmd(0, new byte[] {(byte) 0xE5, 0, 0, 0, 0, 0}, null, 0);
            assertEquals(18, r.senseLen());
            h.dev.writeConfig(20, 4, 8); // the response header is now 12 + 8 bytes
            r = h.cmd(0, new byte[] {(byte) 0xE5, 0, 0, 0, 0, 0}, null, 0);
            assertEquals(8, r.senseLen());
            assertEquals(0x70, r.sense()[0]);
            assertEquals(5, r.sense()[2]);
            assertEquals(20, r.usedLen());
        }
    }

    @Test
    void eventsAreDeliveredWhenBuffersArriveAndOverflowIsFlagged() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            h.dev.postEvent(T_PARAM_CHANGE, 0, 0x2A09);
            controlThreadBarrier(h);                    // the event has been queued on the I/O thread
            assertNull(h.drivers[EVENT_QUEUE].pollUsed(), "no buffer yet");
            long ev = h.alloc(16);
            int head = h.drivers[EVENT_QUEUE].addWritable(ev, 16);
            h.dev.queueNotify(EVENT_QUEUE);
            TestRings.Used u = h.waitUsed(EVENT_QUEUE, ScsiHarness.WAIT_MS);
            assertNotNull(u);
            assertEquals(head, u.id());
            assertEquals(16, u.len());
            assertEquals(T_PARAM_CHANGE, h.mem.readU32(ev));
            assertEquals(1, h.mem.readU8(ev + 4));
            assertEquals(0x2A09, h.mem.readU32(ev + 12));
            h.barrier(0); // the interrupt goes at the end of the I/O thread's round, after the used entry
            assertTrue(h.irq.used.get(EVENT_QUEUE) >= 1, "the driver was interrupted for the event");

            for (int i = 0; i < ScsiControlWorker.MAX_PENDING_EVENTS + 3; i++) h.dev.postEvent(T_TRANSPORT_RESET, 0, i);
            controlThreadBarrier(h);                    // every event queued (and the oldest dropped) before the buffer comes
            long ev2 = h.alloc(16);
            h.drivers[EVENT_QUEUE].addWritable(ev2, 16);
            h.dev.queueNotify(EVENT_QUEUE);
            assertNotNull(h.waitUsed(EVENT_QUEUE, ScsiHarness.WAIT_MS));
            assertEquals(T_TRANSPORT_RESET | T_EVENTS_MISSED, h.mem.readU32(ev2));
            assertEquals(3, h.mem.readU32(ev2 + 12), "the oldest were dropped");
        }
    }

    /**
     * Returns once the control/event worker's I/O thread (thread 0) has run every task queued
     * before this call: {@code postEvent} hands its event to that thread, tasks run in order.
     */
    static void controlThreadBarrier(ScsiHarness h) {
        h.barrier(0);
    }

    @Test
    void resetAndReactivate() throws Exception {
        try (ScsiHarness h = harness(1, 1, disk(image(DISK), "d"))) {
            assertEquals(0, h.cmd(0, new byte[6], null, 0).status());
            h.dev.reset();
            h.reactivate();
            assertEquals(0, h.cmd(0, new byte[6], null, 0).status());
            assertEquals(S_FUNCTION_COMPLETE, h.tmf(TMF_LOGICAL_UNIT_RESET, ScsiHarness.lun(0)));
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }
}
