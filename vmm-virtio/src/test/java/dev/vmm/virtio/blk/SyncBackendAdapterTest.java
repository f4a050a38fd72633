package dev.vmm.virtio.blk;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.vmm.virtio.blk.VirtioBlk.*;
import static org.junit.jupiter.api.Assertions.*;

/** The synchronous-disk path: requests run on worker threads and complete on the I/O thread. */
class SyncBackendAdapterTest {
    /** A RAM disk with the BlockDevice shape, counting flushes; fails reads at one offset. */
    static final class RamDisk implements SyncDisk {
        final MemorySegment data = MemorySegment.ofArray(new byte[4 << 20]);
        final AtomicInteger flushes = new AtomicInteger();
        final AtomicInteger zeroed = new AtomicInteger();
        volatile long failAt = -1;

        @Override public long size() { return data.byteSize(); }
        @Override public boolean readOnly() { return false; }
        @Override public synchronized void read(long o, MemorySegment dst) {
            if (o == failAt) throw new IllegalStateException("bad sector");
            MemorySegment.copy(data, o, dst, 0, dst.byteSize());
        }
        @Override public synchronized void write(long o, MemorySegment src) { MemorySegment.copy(src, 0, data, o, src.byteSize()); }
        @Override public void flush() { flushes.incrementAndGet(); }
        @Override public synchronized void discard(long o, long n) { data.asSlice(o, n).fill((byte) 0); }
        @Override public synchronized void writeZeroes(long o, long n, boolean unmap) { data.asSlice(o, n).fill((byte) 0); zeroed.incrementAndGet(); }
        @Override public void close() { }
    }

    @Test
    void roundTripFlushZeroesAndErrors() throws Exception {
        RamDisk disk = new RamDisk();
        try (BlkHarness h = new BlkHarness(new SyncBackendAdapter(disk, 2, "ram0"), BlkConfig.of(1), 1)) {
            byte[] d = VirtioBlkTest.pattern(64 << 10, 21);
            assertEquals(VIRTIO_BLK_S_OK, h.write(0, 8, d).status());
            assertArrayEquals(d, h.read(0, 8, d.length).data());
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_FLUSH, 0, null, 0).status());
            assertEquals(1, disk.flushes.get());
            assertEquals(VIRTIO_BLK_S_OK, h.request(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, BlkHarness.segments(8, 16, 0, 40, 8, 1), 0).status());
            assertEquals(2, disk.zeroed.get());
            assertArrayEquals(new byte[8192], h.read(0, 8, 8192).data());
            assertEquals("ram0", new String(h.request(0, VIRTIO_BLK_T_GET_ID, 0, null, 4).data()));
            disk.failAt = 512L * 100;
            assertEquals(VIRTIO_BLK_S_IOERR, h.read(0, 100, 512).status());
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }
}
