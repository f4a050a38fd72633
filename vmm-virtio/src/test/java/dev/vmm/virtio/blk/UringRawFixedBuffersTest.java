package dev.vmm.virtio.blk;

import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.testing.SplitRingDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.vmm.virtio.blk.VirtioBlk.VIRTIO_BLK_S_OK;
import static dev.vmm.virtio.blk.VirtioBlk.VIRTIO_BLK_T_IN;
import static dev.vmm.virtio.testing.SplitRingDriver.Buf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The raw backend's READ_FIXED/WRITE_FIXED path (guest RAM registered with the I/O thread's ring):
 * chosen for a one-buffer request inside a registered buffer, the plain READV/WRITEV path for
 * anything else, and the bytes the guest and the image see are the same either way. Compared
 * against the image file read with Java I/O and against the same requests on an unregistered ring.
 */
@Timeout(60)
class UringRawFixedBuffersTest {
    static final long DISK = 16L << 20;

    @TempDir
    Path tmp;

    private Path image(long seed) throws Exception {
        Path p = Files.createTempFile(tmp, "disk", ".raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(DISK);
        }
        Files.write(p, pattern((int) DISK, seed));
        return p;
    }

    private static byte[] pattern(int len, long seed) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static BlkHarness harness(Path img, CacheMode cache) throws Exception {
        return new BlkHarness(UringRawBackend.open(img, false, cache), BlkConfig.of(1), 1);
    }

    /** Registers {@code regions} with every I/O thread of {@code h}. */
    private static void register(BlkHarness h, List<MemorySegment> regions) {
        for (IoThread t : h.threads) t.registerFixedBuffers(regions);
    }

    private static long fixed(BlkHarness h) {
        return ((UringRawBackend) h.backend).fixedSubmitted();
    }

    /** Reads at these sectors, 4 KiB and 64 KiB, each one buffer. */
    private static byte[][] readAll(BlkHarness h) throws Exception {
        long[] sectors = {0, 8, 4096, 12345, (DISK >> 9) - 128};
        byte[][] got = new byte[sectors.length * 2][];
        for (int i = 0; i < sectors.length; i++) {
            BlkHarness.Result r4 = h.read(0, sectors[i], 4096);
            BlkHarness.Result r64 = h.read(0, sectors[i], 65536);
            assertEquals(VIRTIO_BLK_S_OK, r4.status());
            assertEquals(VIRTIO_BLK_S_OK, r64.status());
            got[2 * i] = r4.data();
            got[2 * i + 1] = r64.data();
        }
        return got;
    }

    @Test
    void oneBufferRequestsInRegisteredRamGoFixedAndReadTheSameBytes() throws Exception {
        Path img = image(1);
        byte[] file = Files.readAllBytes(img);
        byte[][] plain, viaFixed;
        try (BlkHarness h = harness(img, CacheMode.WRITEBACK)) {
            plain = readAll(h);
            assertEquals(0, fixed(h), "nothing registered: plain path");
        }
        try (BlkHarness h = harness(img, CacheMode.WRITEBACK)) {
            register(h, List.of(h.mem.regions().get(0).host()));
            viaFixed = readAll(h);
            assertEquals(10, fixed(h), "every one-buffer read went out as READ_FIXED");
        }
        assertEquals(plain.length, viaFixed.length);
        for (int i = 0; i < plain.length; i++) assertArrayEquals(plain[i], viaFixed[i], "read " + i);
        assertArrayEquals(Arrays.copyOfRange(file, 12345 * 512, 12345 * 512 + 65536), viaFixed[7]);
    }

    @Test
    void fixedWritesReachTheImage() throws Exception {
        Path img = image(2);
        byte[] data = pattern(3 * 4096, 3);
        try (BlkHarness h = harness(img, CacheMode.WRITEBACK)) {
            register(h, List.of(h.mem.regions().get(0).host()));
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 100, data).status());
            assertEquals(1, fixed(h));
            assertArrayEquals(data, h.read(0, 100, data.length).data());
            assertEquals(2, fixed(h));
        }
        byte[] file = Files.readAllBytes(img);
        assertArrayEquals(data, Arrays.copyOfRange(file, 100 * 512, 100 * 512 + data.length));
    }

    @Test
    void directIoTakesTheFixedPathToo() throws Exception {
        Path img = image(4);
        byte[] file = Files.readAllBytes(img);
        try (BlkHarness h = harness(img, CacheMode.NONE)) {
            register(h, List.of(h.mem.regions().get(0).host()));
            assertArrayEquals(Arrays.copyOfRange(file, 4096 * 512, 4096 * 512 + 8192), h.read(0, 4096, 8192).data());
            assertEquals(1, fixed(h));
        } catch (BlkBackendException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "O_DIRECT not supported here: " + e.getMessage());
        }
    }

    @Test
    void scatteredBuffersUnregisteredRamAndStraddlersTakeThePlainPath() throws Exception {
        Path img = image(5);
        byte[] file = Files.readAllBytes(img);
        try (BlkHarness h = harness(img, CacheMode.WRITEBACK)) {
            MemorySegment ram = h.mem.regions().get(0).host();
            // Register only guest addresses [1 MiB, 1 MiB + 64 KiB): the data area's first pages.
            register(h, List.of(ram.asSlice(BlkHarness.DATA_BASE, 64 * 1024)));

            // A three-buffer read: READV, whatever the buffers' addresses.
            long hdr = h.alloc(0, 16);
            h.mem.writeU32(hdr, VIRTIO_BLK_T_IN);
            h.mem.writeU64(hdr + 8, 64);
            long a = h.alloc(0, 1024), b = h.alloc(0, 2048), c = h.alloc(0, 1024), st = h.alloc(0, 1);
            h.drivers[0].add(new Buf(hdr, 16, false), new Buf(a, 1024, true), new Buf(b, 2048, true),
                    new Buf(c, 1024, true), new Buf(st, 1, true));
            h.dev.queueNotify(0);
            SplitRingDriver.Used u = h.drivers[0].waitUsed(10_000);
            assertNotNull(u);
            assertEquals(VIRTIO_BLK_S_OK, h.mem.readU8(st));
            byte[] got = new byte[4096];
            h.mem.read(a, got, 0, 1024);
            h.mem.read(b, got, 1024, 2048);
            h.mem.read(c, got, 3072, 1024);
            assertArrayEquals(Arrays.copyOfRange(file, 64 * 512, 64 * 512 + 4096), got);
            assertEquals(0, fixed(h), "several buffers: plain READV");

            // Past the registered 64 KiB (the harness allocates upwards): one buffer, plain path.
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(Arrays.copyOfRange(file, 0, 65536), h.read(0, 0, 65536).data());
            }
            assertEquals(0, fixed(h), "outside or across the registered range: plain READ path");

            // Unregistered again: still plain, and still right.
            for (IoThread t : h.threads) t.unregisterFixedBuffers();
            assertArrayEquals(Arrays.copyOfRange(file, 512, 512 + 4096), h.read(0, 1, 4096).data());
            assertEquals(0, fixed(h));
        }
    }
}
