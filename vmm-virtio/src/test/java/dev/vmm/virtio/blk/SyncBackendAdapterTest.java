package dev.vmm.virtio.blk;

import dev.vmm.block.TestDisk;
import dev.vmm.virtio.testing.IoRounds;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.vmm.virtio.blk.VirtioBlk.*;
import static org.junit.jupiter.api.Assertions.*;

/** The synchronous-disk path: requests run on worker threads and complete on the I/O thread. */
class SyncBackendAdapterTest {
    /** A RAM disk with the BlockDevice shape, counting flushes; fails reads at one offset. */
    static class RamDisk implements TestDisk {
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

    /**
     * While a request is in flight the device keeps the driver's kicks off (EVENT_IDX: avail_event
     * left behind) and looks at the avail ring when a request completes: a request the driver
     * queued meanwhile, without a kick, starts as soon as the first one finishes.
     */
    @Test
    void requestQueuedWhileAnotherIsInFlightStartsWithoutAKick() throws Exception {
        java.util.concurrent.Semaphore gate = new java.util.concurrent.Semaphore(0);
        AtomicInteger reads = new AtomicInteger();
        RamDisk disk = new RamDisk() {
            @Override public void read(long o, MemorySegment dst) {
                reads.incrementAndGet();
                gate.acquireUninterruptibly();
                super.read(o, dst);
            }
        };
        try (BlkHarness h = new BlkHarness(new SyncBackendAdapter(disk, 2, "ram0"), BlkConfig.of(1), 1)) {
            var drv = h.drivers[0];
            h.post(0, VIRTIO_BLK_T_IN, 0, null, 4096);
            h.dev.queueNotify(0);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (reads.get() < 1 && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(1, reads.get(), "the first request reached the disk");
            // The I/O thread has finished the round that popped it (and set avail_event): before that
            // the ring still holds its initial avail_event 0, which also reads as "no kick".
            IoRounds.afterAFullRound(h.threads.get(0));

            h.post(0, VIRTIO_BLK_T_IN, 8, null, 4096); // avail idx 1 -> 2
            int event = Short.toUnsignedInt(h.mem.readU16(drv.used + 4 + 8L * drv.size));
            boolean kick = ((2 - event - 1) & 0xFFFF) < 1;  // vring_need_event(event, new 2, old 1)
            assertFalse(kick, "the device asked for a kick (avail_event " + event + ") with a request in flight");

            gate.release(); // the first completes; its completion round picks up the second
            while (reads.get() < 2 && System.nanoTime() < deadline) Thread.sleep(1);
            assertEquals(2, reads.get(), "the second request started without a kick");
            gate.release();
            assertNotNull(drv.waitUsed(10_000));
            assertNotNull(drv.waitUsed(10_000));
            // The used element is written during the completion round and avail_event re-armed at the
            // round's end (QueueWorker.afterCompletions): the driver can see the first before the second.
            IoRounds.afterAFullRound(h.threads.get(0));
            // Nothing in flight any more: kicks are asked for again for the next request.
            int event2 = Short.toUnsignedInt(h.mem.readU16(drv.used + 4 + 8L * drv.size));
            assertEquals(2, event2, "avail_event re-armed at the avail index once idle");
            assertTrue(h.irq.needsReset.isEmpty());
        }
    }
}
