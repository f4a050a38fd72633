package dev.vmm.virtio.blk;

import dev.vmm.virtio.testing.SplitRingDriver;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.virtio.VirtioFeatures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static dev.vmm.virtio.testing.SplitRingDriver.Buf;
import static dev.vmm.virtio.blk.VirtioBlk.*;
import static org.junit.jupiter.api.Assertions.*;

class VirtioBlkTest {
    static final long DISK = 16L << 20;

    @TempDir
    Path tmp;

    Path image(long size) throws Exception {
        Path p = Files.createTempFile(tmp, "disk", ".raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    static byte[] pattern(int len, long seed) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    static long stBlocks(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            return st.get(ValueLayout.JAVA_LONG, Libc.STAT.byteOffset(MemoryLayout.PathElement.groupElement("st_blocks")));
        }
    }

    BlkHarness harness(Path img, boolean ro, CacheMode cache, BlkConfig cfg, int threads) throws Exception {
        return new BlkHarness(UringRawBackend.open(img, ro, cache), cfg, threads);
    }

    @Test
    void writeThenReadBackAndFileHoldsTheData() throws Exception {
        Path img = image(DISK);
        byte[] data = pattern(8 * 512, 1);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            BlkHarness.Result w = h.write(0, 10, data);
            assertEquals(S_OK(), w.status());
            assertEquals(1, w.usedLen());
            BlkHarness.Result r = h.read(0, 10, data.length);
            assertEquals(S_OK(), r.status());
            assertEquals(data.length + 1, r.usedLen());
            assertArrayEquals(data, r.data());
            assertEquals(S_OK(), h.request(0, VIRTIO_BLK_T_FLUSH, 0, null, 0).status());
            assertTrue(h.irq.used.get(0) > 0, "driver was notified");
            assertTrue(h.irq.needsReset.isEmpty());
        }
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(data, Arrays.copyOfRange(file, 10 * 512, 10 * 512 + data.length));
    }

    static int S_OK() { return VIRTIO_BLK_S_OK; }

    @Test
    void scatterGatherAndIndirectChainsWithHeaderSharingADescriptor() throws Exception {
        Path img = image(DISK);
        byte[] data = pattern(3 * 4096, 2);
        Files.write(img, data, java.nio.file.StandardOpenOption.WRITE);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            // Indirect read: header | 3 separate data buffers of odd-ish (512-multiple) sizes | status.
            long hdr = h.alloc(0, 16);
            h.mem.writeU32(hdr, VIRTIO_BLK_T_IN);
            h.mem.writeU64(hdr + 8, 0);
            long a = h.alloc(0, 1024), b = h.alloc(0, 8192), c = h.alloc(0, 3072), st = h.alloc(0, 1);
            long table = h.alloc(0, 16 * 5);
            int head = h.drivers[0].addIndirect(table, new Buf(hdr, 16, false), new Buf(a, 1024, true),
                    new Buf(b, 8192, true), new Buf(c, 3072, true), new Buf(st, 1, true));
            h.dev.queueNotify(0);
            SplitRingDriver.Used u = h.drivers[0].waitUsed(5000);
            assertNotNull(u);
            assertEquals(head, u.id());
            assertEquals(12289, u.len());
            assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(st));
            byte[] got = new byte[12288];
            h.mem.read(a, got, 0, 1024);
            h.mem.read(b, got, 1024, 8192);
            h.mem.read(c, got, 9216, 3072);
            assertArrayEquals(data, got);

            // Write with the header and the data in one descriptor, status in the same writable one as nothing else.
            byte[] w = pattern(1024, 3);
            long one = h.alloc(0, 16 + 1024);
            h.mem.writeU32(one, VIRTIO_BLK_T_OUT);
            h.mem.writeU64(one + 8, 100);
            h.mem.write(one + 16, w);
            long st2 = h.alloc(0, 1);
            h.drivers[0].add(new Buf(one, 16 + 1024, false), new Buf(st2, 1, true));
            h.dev.queueNotify(0);
            assertNotNull(h.drivers[0].waitUsed(5000));
            assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(st2));
            assertArrayEquals(w, h.read(0, 100, 1024).data());
        }
    }

    @Test
    void getIdReturnsTheSerial() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(1).withSerial("vmm-disk-0"), 1)) {
            BlkHarness.Result r = h.request(0, VIRTIO_BLK_T_GET_ID, 0, null, 20);
            assertEquals(VIRTIO_BLK_S_OK, r.status());
            assertEquals(21, r.usedLen());
            byte[] want = Arrays.copyOf("vmm-disk-0".getBytes(), 20);
            assertArrayEquals(want, r.data());
        }
    }

    @Test
    void discardReleasesHostBlocksAndReadsZeroes() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            int fd = ((UringRawBackend) h.backend).fd();
            byte[] data = pattern(1 << 20, 4);
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 0, data).status());
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_FLUSH, 0, null, 0).status());
            long before = stBlocks(fd);
            assertTrue(before >= 2048, "1 MiB allocated: " + before);
            BlkHarness.Result d = h.request(0, VIRTIO_BLK_T_DISCARD, 0, BlkHarness.segments(0, 1024, 0, 1024, 1024, 0), 0);
            assertEquals(VIRTIO_BLK_S_OK, d.status());
            long after = stBlocks(fd);
            assertTrue(after <= before - 2000, "blocks " + before + " -> " + after);
            assertArrayEquals(new byte[1 << 20], h.read(0, 0, 1 << 20).data());
            // Discard with the unmap flag set is UNSUPP (spec), reserved flags too.
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_DISCARD, 0, BlkHarness.segments(0, 8, 1), 0).status());
            // Discard past the end is IOERR.
            assertEquals(VIRTIO_BLK_S_IOERR, h.request(0, VIRTIO_BLK_T_DISCARD, 0,
                    BlkHarness.segments(DISK / 512 - 4, 8, 0), 0).status());
        }
    }

    @Test
    void writeZeroesWithAndWithoutUnmap() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            int fd = ((UringRawBackend) h.backend).fd();
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 0, pattern(2 << 20, 5)).status());
            h.request(0, VIRTIO_BLK_T_FLUSH, 0, null, 0);
            long b0 = stBlocks(fd);
            // Without unmap: zeroes, storage stays allocated.
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, BlkHarness.segments(0, 2048, 0), 0).status());
            assertArrayEquals(new byte[1 << 20], h.read(0, 0, 1 << 20).data());
            long b1 = stBlocks(fd);
            assertTrue(b1 >= b0 - 16, "no unmap keeps blocks: " + b0 + " -> " + b1);
            // With unmap: zeroes and the blocks go.
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, BlkHarness.segments(2048, 2048, 1), 0).status());
            assertArrayEquals(new byte[1 << 20], h.read(0, 2048, 1 << 20).data());
            long b2 = stBlocks(fd);
            assertTrue(b2 <= b1 - 2000, "unmap releases blocks: " + b1 + " -> " + b2);
            // Reserved flag bits are UNSUPP.
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, BlkHarness.segments(0, 8, 2), 0).status());
        }
    }

    @Test
    void readOnlyDiskRefusesWrites() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, true, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            long f = h.dev.deviceFeatures();
            assertTrue(VirtioFeatures.has(f, VIRTIO_BLK_F_RO));
            assertFalse(VirtioFeatures.has(f, VIRTIO_BLK_F_DISCARD));
            assertFalse(VirtioFeatures.has(f, VIRTIO_BLK_F_WRITE_ZEROES));
            assertEquals(VIRTIO_BLK_S_IOERR, h.write(0, 0, pattern(512, 6)).status());
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_DISCARD, 0, BlkHarness.segments(0, 8, 0), 0).status());
            assertEquals(VIRTIO_BLK_S_OK, h.read(0, 0, 512).status());
        }
        assertArrayEquals(new byte[512], Arrays.copyOf(Files.readAllBytes(img), 512));
    }

    @Test
    void badRequestsGetErrorStatusAndTheQueueGoesOn() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            long cap = DISK / 512;
            assertEquals(cap, h.dev.readConfig(0, 8));
            assertEquals(VIRTIO_BLK_S_OK, h.read(0, cap - 1, 512).status());
            assertEquals(VIRTIO_BLK_S_IOERR, h.read(0, cap, 512).status(), "one past the end");
            assertEquals(VIRTIO_BLK_S_IOERR, h.read(0, cap - 1, 1024).status(), "crosses the end");
            assertEquals(VIRTIO_BLK_S_IOERR, h.read(0, -1L, 512).status(), "sector 2^64-1");
            assertEquals(VIRTIO_BLK_S_IOERR, h.write(0, Long.MAX_VALUE, new byte[512]).status(), "overflowing");
            assertEquals(VIRTIO_BLK_S_IOERR, h.read(0, 0, 100).status(), "not a multiple of 512");
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, 99, 0, null, 0).status());
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_GET_LIFETIME, 0, null, 16).status());
            // Data in the wrong direction: a read with a device-readable data buffer, a write with a writable one.
            assertEquals(VIRTIO_BLK_S_IOERR, h.request(0, VIRTIO_BLK_T_IN, 0, new byte[512], 512).status());
            assertEquals(VIRTIO_BLK_S_IOERR, h.request(0, VIRTIO_BLK_T_OUT, 0, null, 512).status());
            // Still serving.
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 1, pattern(512, 7)).status());
            assertTrue(h.irq.needsReset.isEmpty(), h.irq.needsReset.toString());
            assertTrue(h.dev.stats(0).errors() >= 7);
        }
    }

    @Test
    void malformedChainsNeedResetAndOtherQueuesKeepServing() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(2), 1)) {
            // Queue 0: a request with no writable status byte.
            long hdr = h.alloc(0, 16);
            h.mem.writeU32(hdr, VIRTIO_BLK_T_IN);
            h.drivers[0].add(new Buf(hdr, 16, false));
            h.dev.queueNotify(0);
            long deadline = System.currentTimeMillis() + 5000;
            while (h.irq.needsReset.isEmpty() && System.currentTimeMillis() < deadline) Thread.sleep(1);
            assertEquals(1, h.irq.needsReset.size());
            assertTrue(h.irq.needsReset.peek().contains("status"), h.irq.needsReset.peek());
            // Queue 1 on the same thread still works.
            byte[] d = pattern(4096, 8);
            assertEquals(VIRTIO_BLK_S_OK, h.write(1, 8, d).status());
            assertArrayEquals(d, h.read(1, 8, 4096).data());
            // Queue 0 serves nothing more until reset.
            h.post(0, VIRTIO_BLK_T_FLUSH, 0, null, 0);
            h.dev.queueNotify(0);
            assertNull(h.drivers[0].waitUsed(100));
        }
    }

    @Test
    void shortHeaderAndBrokenRingNeedReset() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(2), 2)) {
            long hdr = h.alloc(0, 8), st = h.alloc(0, 1);
            h.drivers[0].add(new Buf(hdr, 8, false), new Buf(st, 1, true));
            h.dev.queueNotify(0);
            // Queue 1: a descriptor outside guest RAM (ring validation in SplitQueue).
            h.drivers[1].add(new Buf(BlkHarness.RAM + 4096, 16, false), new Buf(h.alloc(1, 1), 1, true));
            h.dev.queueNotify(1);
            long deadline = System.currentTimeMillis() + 5000;
            while (h.irq.needsReset.size() < 2 && System.currentTimeMillis() < deadline) Thread.sleep(1);
            assertEquals(2, h.irq.needsReset.size(), h.irq.needsReset.toString());
            assertTrue(h.irq.needsReset.stream().anyMatch(s -> s.contains("header")));
        }
    }

    @Test
    void deviceResetAndReactivate() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 0, pattern(512, 9)).status());
            h.dev.reset();
            SplitRingDriver fresh = new SplitRingDriver(h.mem, 256, 0x10000);
            h.drivers[0] = fresh;
            var q = fresh.queue(true);
            q.activate(h.mem);
            h.dev.activate(h.mem, h.dev.deviceFeatures(), java.util.List.of(q), h.irq);
            assertArrayEquals(pattern(512, 9), h.read(0, 0, 512).data());
        }
    }

    @Test
    void twoQueuesOnTwoThreadsConcurrently() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, false, CacheMode.WRITEBACK, BlkConfig.of(2), 2)) {
            assertTrue(VirtioFeatures.has(h.dev.deviceFeatures(), VIRTIO_BLK_F_MQ));
            assertEquals(2, h.dev.readConfig(34, 2));
            Thread[] ts = new Thread[2];
            Throwable[] err = new Throwable[2];
            for (int q = 0; q < 2; q++) {
                int qq = q;
                ts[q] = new Thread(() -> {
                    try {
                        // 32 requests in flight at once, then read each back.
                        long base = qq * 8192L;
                        long[][] posted = new long[32][];
                        for (int i = 0; i < 32; i++) posted[i] = h.post(qq, VIRTIO_BLK_T_OUT, base + i * 8, pattern(4096, qq * 100 + i), 0);
                        h.dev.queueNotify(qq);
                        for (int i = 0; i < 32; i++) assertNotNull(h.drivers[qq].waitUsed(10_000));
                        for (int i = 0; i < 32; i++) assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(posted[i][2]));
                        for (int i = 0; i < 32; i++) {
                            assertArrayEquals(pattern(4096, qq * 100 + i), h.read(qq, base + i * 8, 4096).data());
                        }
                    } catch (Throwable t) {
                        err[qq] = t;
                    }
                });
                ts[q].start();
            }
            for (Thread t : ts) t.join(30_000);
            for (Throwable t : err) if (t != null) throw new AssertionError(t);
            assertEquals(64, h.dev.stats(0).writes() + h.dev.stats(1).writes());
            assertTrue(h.dev.statsSummary("vda").contains("queue 1"));
        }
    }

    @Test
    void throttledRequestsWaitAndComplete() throws Exception {
        ThrottleGroup g = new ThrottleGroup("t");
        g.setLimit(ThrottleGroup.Limit.TOTAL_OPS, 50, 0.02); // bucket of 1 op
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(1).withThrottle(g), 1)) {
            for (int i = 0; i < 6; i++) h.post(0, VIRTIO_BLK_T_OUT, i, pattern(512, i), 0);
            h.dev.queueNotify(0);
            for (int i = 0; i < 6; i++) assertNotNull(h.drivers[0].waitUsed(5000));
            assertTrue(h.dev.stats(0).throttled() > 0);
            assertEquals(6, h.dev.stats(0).writes());
        }
    }

    @Test
    void writeThroughHasNoFlushFeatureButFlushSucceeds() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITETHROUGH, BlkConfig.of(1), 1)) {
            assertFalse(VirtioFeatures.has(h.dev.deviceFeatures(), VIRTIO_BLK_F_FLUSH));
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 0, pattern(512, 10)).status());
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_FLUSH, 0, null, 0).status());
        }
    }

    @Test
    void directIoAlignedAndMisalignedBuffers() throws Exception {
        Path img = image(DISK);
        try (BlkHarness h = harness(img, false, CacheMode.NONE, BlkConfig.of(1), 1)) {
            byte[] d = pattern(8192, 11);
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 16, d).status());
            assertArrayEquals(d, h.read(0, 16, 8192).data());
            // A misaligned guest buffer (offset 7 into a page) goes through the bounce buffer.
            long hdr = h.alloc(0, 16);
            h.mem.writeU32(hdr, VIRTIO_BLK_T_OUT);
            h.mem.writeU64(hdr + 8, 64);
            long buf = h.alloc(0, 4096 + 8) + 7;
            byte[] w = pattern(1024, 12);
            h.mem.write(buf, w);
            long st = h.alloc(0, 1);
            h.drivers[0].add(new Buf(hdr, 16, false), new Buf(buf, 1024, false), new Buf(st, 1, true));
            h.dev.queueNotify(0);
            assertNotNull(h.drivers[0].waitUsed(5000));
            assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(st));
            hdr = h.alloc(0, 16);
            h.mem.writeU32(hdr, VIRTIO_BLK_T_IN);
            h.mem.writeU64(hdr + 8, 64);
            long rb = h.alloc(0, 4096 + 8) + 3;
            st = h.alloc(0, 1);
            h.drivers[0].add(new Buf(hdr, 16, false), new Buf(rb, 1024, true), new Buf(st, 1, true));
            h.dev.queueNotify(0);
            assertNotNull(h.drivers[0].waitUsed(5000));
            assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(st));
            byte[] got = new byte[1024];
            h.mem.read(rb, got, 0, 1024);
            assertArrayEquals(w, got);
        }
        assertArrayEquals(pattern(1024, 12), Arrays.copyOfRange(Files.readAllBytes(img), 64 * 512, 64 * 512 + 1024));
    }

    @Test
    void imageLockStopsASecondOpen() throws Exception {
        Path img = image(DISK);
        try (UringRawBackend rw = UringRawBackend.open(img, false, CacheMode.WRITEBACK)) {
            BlkBackendException e = assertThrows(BlkBackendException.class, () -> UringRawBackend.open(img, false, CacheMode.WRITEBACK));
            assertTrue(e.getMessage().contains("locked"), e.getMessage());
            assertThrows(BlkBackendException.class, () -> UringRawBackend.open(img, true, CacheMode.WRITEBACK));
        }
        try (UringRawBackend ro1 = UringRawBackend.open(img, true, CacheMode.WRITEBACK);
             UringRawBackend ro2 = UringRawBackend.open(img, true, CacheMode.WRITEBACK)) {
            assertEquals(DISK, ro1.size());
            assertThrows(BlkBackendException.class, () -> UringRawBackend.open(img, false, CacheMode.WRITEBACK));
        }
        UringRawBackend.open(img, false, CacheMode.WRITEBACK).close(); // free again
        BlkBackendException missing = assertThrows(BlkBackendException.class,
                () -> UringRawBackend.open(tmp.resolve("nope.raw"), false, CacheMode.WRITEBACK));
        assertTrue(missing.getMessage().contains("nope.raw"), missing.getMessage());
    }

    @Test
    void configSpaceLayout() throws Exception {
        try (BlkHarness h = harness(image(DISK), false, CacheMode.WRITEBACK, BlkConfig.of(1), 1)) {
            VirtioBlk d = h.dev;
            assertEquals(2, d.deviceType().id());
            assertEquals(254, d.readConfig(12, 4));
            assertEquals(512, d.readConfig(20, 4));
            assertEquals(1, d.readConfig(34, 2));
            assertEquals(BlkConfig.MAX_DISCARD_SECTORS, d.readConfig(36, 4));
            assertEquals(BlkConfig.MAX_DISCARD_SEGMENTS, d.readConfig(40, 4));
            assertEquals(1, d.readConfig(56, 1));
            assertEquals(0, d.readConfig(59, 4), "out of range");
            d.writeConfig(0, 8, 1234);
            assertEquals(DISK / 512, d.readConfig(0, 8), "read-only");
            long f = d.deviceFeatures();
            assertTrue(VirtioFeatures.has(f, VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX
                    | VirtioFeatures.VIRTIO_F_INDIRECT_DESC | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH
                    | VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES));
            assertFalse(VirtioFeatures.has(f, VIRTIO_BLK_F_MQ));
        }
    }

    @Test
    void discardNotNegotiatedIsUnsupported() throws Exception {
        Path img = image(DISK);
        UringRawBackend b = UringRawBackend.open(img, false, CacheMode.WRITEBACK);
        long features;
        try (dev.vmm.virtio.io.IoThread t = new dev.vmm.virtio.io.IoThread("p", 8);
             VirtioBlk probe = new VirtioBlk(b, BlkConfig.of(1), java.util.List.of(t))) {
            features = probe.deviceFeatures() & ~(VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES);
        }
        try (BlkHarness h = new BlkHarness(b, BlkConfig.of(1), 1, features)) {
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_DISCARD, 0, BlkHarness.segments(0, 8, 0), 0).status());
            assertEquals(VIRTIO_BLK_S_UNSUPP, h.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, BlkHarness.segments(0, 8, 0), 0).status());
        }
    }
}
