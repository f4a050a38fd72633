package dev.vmm.virtio.queue;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest RAM for tests: regions carved out of one confined allocation, each with guard bytes on
 * both sides filled with a pattern, so a test can assert nothing was written outside RAM.
 */
final class FakeGuestMemory implements AutoCloseable {
    static final int GUARD = 4096;
    private static final byte PATTERN = (byte) 0xA5;

    private final Arena arena;
    private final List<MemorySegment> guards = new ArrayList<>();
    private final MemorySegment pattern;
    final GuestMemory memory;

    /** One region of {@code size} bytes at guest-physical {@code base}. */
    FakeGuestMemory(long base, long size) {
        this(new long[] {base, size});
    }

    /** Regions given as pairs {base0, size0, base1, size1, ...}, confined to this thread. */
    FakeGuestMemory(long... baseSizePairs) {
        this(Arena.ofConfined(), baseSizePairs);
    }

    /** Memory that several threads (a driver and a device) may touch. */
    static FakeGuestMemory shared(long base, long size) {
        return new FakeGuestMemory(Arena.ofShared(), base, size);
    }

    private FakeGuestMemory(Arena arena, long... baseSizePairs) {
        this.arena = arena;
        this.pattern = arena.allocate(GUARD).fill(PATTERN);
        List<GuestRegion> regions = new ArrayList<>();
        for (int i = 0; i < baseSizePairs.length; i += 2) {
            long size = baseSizePairs[i + 1];
            MemorySegment all = arena.allocate(size + 2 * GUARD, 4096);
            MemorySegment low = all.asSlice(0, GUARD);
            MemorySegment high = all.asSlice(GUARD + size, GUARD);
            low.fill(PATTERN);
            high.fill(PATTERN);
            guards.add(low);
            guards.add(high);
            regions.add(new GuestRegion(i / 2, baseSizePairs[i], all.asSlice(GUARD, size)));
        }
        memory = new GuestMemory(regions);
    }

    /** Whether every guard byte still holds the pattern. */
    boolean guardsIntact() {
        for (MemorySegment g : guards) {
            if (g.mismatch(pattern) != -1) return false;
        }
        return true;
    }

    @Override
    public void close() {
        arena.close();
    }
}
