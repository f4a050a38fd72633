package dev.vmm.block.nbd;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Native buffers for request payloads. They are native so that the image's pread/pwrite downcalls
 * take them directly (heap buffers would go through a per-thread bounce buffer, and a server that
 * runs each request on a fresh virtual thread would allocate one of those per request). Buffers up
 * to {@link #POOLED_SIZE} are recycled (at most {@link #MAX_POOLED} kept); larger ones are left to the GC.
 */
final class NbdBufferPool {
    static final int POOLED_SIZE = 1 << 20;
    private static final int MAX_POOLED = 64;
    private final ConcurrentLinkedQueue<MemorySegment> free = new ConcurrentLinkedQueue<>();
    private final AtomicInteger pooled = new AtomicInteger();

    /** A buffer of at least the asked size; {@link #data} is exactly that size. */
    record Buffer(MemorySegment whole, MemorySegment data) {}

    Buffer take(long size) {
        if (size > POOLED_SIZE) {
            MemorySegment s = Arena.ofAuto().allocate(size, 4096);
            return new Buffer(s, s);
        }
        MemorySegment s = free.poll();
        if (s != null) pooled.decrementAndGet();
        else s = Arena.ofAuto().allocate(POOLED_SIZE, 4096);
        return new Buffer(s, s.asSlice(0, size));
    }

    void give(Buffer b) {
        if (b == null || b.whole().byteSize() != POOLED_SIZE) return;
        if (pooled.incrementAndGet() > MAX_POOLED) {
            pooled.decrementAndGet();
            return;
        }
        free.offer(b.whole());
    }
}
