package dev.vmm.virtio.io.fixed;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RegisteredBuffersTest {
    /** A 3.5 GiB range at a made-up address: the table only does arithmetic on it, nothing touches it. */
    private static final long BASE = 0x7f00_0000_0000L;
    private static final MemorySegment BIG = MemorySegment.ofAddress(BASE).reinterpret((3L << 30) + (1L << 29));

    @Test
    void regionsOverOneGibAreCutIntoKernelSizedPieces() {
        RegisteredBuffers t = RegisteredBuffers.of(List.of(BIG));
        assertEquals(4, t.count());
        for (int i = 0; i < 3; i++) {
            assertEquals(BASE + ((long) i << 30), t.buffers().get(i).address());
            assertEquals(1L << 30, t.buffers().get(i).byteSize());
        }
        assertEquals(1L << 29, t.buffers().get(3).byteSize());
    }

    @Test
    void lookupFindsTheBufferHoldingTheWholeRange() {
        RegisteredBuffers t = RegisteredBuffers.of(List.of(BIG));
        assertEquals(0, t.indexOf(BASE, 4096));
        assertEquals(0, t.indexOf(BASE + (1L << 30) - 4096, 4096), "the last page of a piece");
        assertEquals(1, t.indexOf(BASE + (1L << 30), 4096), "the first page of the next piece");
        assertEquals(-1, t.indexOf(BASE + (1L << 30) - 512, 4096), "straddles two pieces: plain path");
        assertEquals(3, t.indexOf(BASE + (3L << 30), 1L << 29));
        assertEquals(-1, t.indexOf(BASE + (3L << 30), (1L << 29) + 1), "runs past the end");
        assertEquals(-1, t.indexOf(BASE - 1, 2), "starts before");
        assertEquals(-1, t.indexOf(BASE, 0), "empty");
        assertEquals(-1, t.indexOf(BASE, 1L << 32), "longer than an SQE's u32 length");
        assertEquals(-1, t.indexOf(-4096, 8192), "wraps around the address space");
        assertEquals(-1, RegisteredBuffers.NONE.indexOf(BASE, 4096));
    }

    @Test
    void severalRegionsKeepTheirOrder() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment low = a.allocate(8192, 4096), high = a.allocate(16384, 4096);
            RegisteredBuffers t = RegisteredBuffers.of(List.of(low, high));
            assertEquals(2, t.count());
            assertEquals(1, t.indexOf(high.address() + 4096, 8192));
            assertEquals(0, t.indexOf(low.address(), 8192));
        }
    }

    @Test
    void heapSegmentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> RegisteredBuffers.of(List.of(MemorySegment.ofArray(new byte[4096]))));
    }
}
