package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Guest RAM for the AHCI tests: one region at guest-physical {@code base}, shared between threads,
 * zeroed. The host memory is pooled per size for the JVM's life: a fresh 64 MiB native segment per
 * test (page faults plus zeroing) was most of each AHCI test's time, and under PIT most of each
 * mutant's; a reused one is only zeroed again.
 */
final class TestRam implements AutoCloseable {
    private static final Map<Long, Deque<MemorySegment>> FREE = new HashMap<>();

    final GuestMemory memory;
    final long base, size;
    private final MemorySegment host;
    private boolean closed;

    TestRam(long base, long size) {
        this.base = base;
        this.size = size;
        MemorySegment reused;
        synchronized (FREE) {
            reused = FREE.computeIfAbsent(size, s -> new ArrayDeque<>()).poll();
        }
        if (reused != null) reused.fill((byte) 0);
        host = reused != null ? reused : Arena.global().allocate(size, 4096);
        memory = new GuestMemory(List.of(new GuestRegion(0, base, host)));
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        synchronized (FREE) {
            FREE.get(size).push(host);
        }
    }
}
