package dev.vmm.usb.xhci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** Guest RAM for the xHCI tests: one region at guest-physical 0, shared between threads. */
final class TestRam implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    final GuestMemory memory;
    final long size;

    TestRam(long size) {
        this.size = size;
        MemorySegment host = arena.allocate(size, 4096);
        memory = new GuestMemory(List.of(new GuestRegion(0, 0, host)));
    }

    @Override
    public void close() {
        arena.close();
    }
}
