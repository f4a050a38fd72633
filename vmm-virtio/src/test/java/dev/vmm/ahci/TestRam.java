package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** Guest RAM for the AHCI tests: one region at guest-physical {@code base}, shared between threads. */
final class TestRam implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    final GuestMemory memory;
    final long base, size;

    TestRam(long base, long size) {
        this.base = base;
        this.size = size;
        MemorySegment host = arena.allocate(size, 4096);
        memory = new GuestMemory(List.of(new GuestRegion(0, base, host)));
    }

    @Override
    public void close() {
        arena.close();
    }
}
