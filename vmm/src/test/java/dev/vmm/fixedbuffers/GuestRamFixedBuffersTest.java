package dev.vmm.fixedbuffers;

import dev.vmm.devices.AttachContext;
import dev.vmm.devices.PendingDevice;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.io.IoThread;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
class GuestRamFixedBuffersTest {
    private record Named(String describe) implements PendingDevice {
        @Override public void attach(AttachContext ctx) { throw new UnsupportedOperationException(); }
        @Override public void close() { }
    }

    @Test
    void guestRamIsRegisteredWithEveryIoThreadUnlessABalloonIsThere() {
        try (Arena arena = Arena.ofShared(); IoThread a = new IoThread("fb-a", 8); IoThread b = new IoThread("fb-b", 8)) {
            a.start();
            MemorySegment low = arena.allocate(1 << 20, 4096), high = arena.allocate(2 << 20, 4096);
            GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0, low), new GuestRegion(1, 1L << 32, high)));
            List<String> warnings = new ArrayList<>();

            GuestRamFixedBuffers.apply(List.of(a, b), mem, List.of(new Named("virtio-balloon-pci (MADV_DONTNEED)")), warnings::add);
            assertEquals(1, warnings.size());
            assertTrue(warnings.get(0).contains("balloon"), warnings.get(0));
            assertEquals(-1, a.fixedBufferIndex(low.address(), 4096), "not registered next to a balloon");

            GuestRamFixedBuffers.apply(List.of(a, b), mem, List.of(new Named("virtio-blk-pci disk.img (raw)")), warnings::add);
            assertEquals(1, warnings.size(), "no new warning: " + warnings);
            for (IoThread t : List.of(a, b)) {
                assertEquals(0, t.fixedBufferIndex(low.address() + 4096, 4096));
                assertEquals(1, t.fixedBufferIndex(high.address(), 2 << 20));
                assertEquals(-1, t.fixedBufferIndex(low.address() + (1 << 20) - 512, 4096), "runs past the region");
            }
        }
    }

    @Test
    void offUnlessThePropertyIsSet() {
        try (Arena arena = Arena.ofShared(); IoThread a = new IoThread("fb-c", 8)) {
            MemorySegment ram = arena.allocate(1 << 20, 4096);
            GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0, ram)));
            String before = System.getProperty(GuestRamFixedBuffers.PROPERTY);
            try {
                System.clearProperty(GuestRamFixedBuffers.PROPERTY);
                GuestRamFixedBuffers.applyIfEnabled(List.of(a), mem, List.of(), w -> { });
                assertEquals(-1, a.fixedBufferIndex(ram.address(), 4096));
                System.setProperty(GuestRamFixedBuffers.PROPERTY, "true");
                GuestRamFixedBuffers.applyIfEnabled(List.of(a), mem, List.of(), w -> { });
                assertEquals(0, a.fixedBufferIndex(ram.address(), 4096));
            } finally {
                if (before == null) System.clearProperty(GuestRamFixedBuffers.PROPERTY);
                else System.setProperty(GuestRamFixedBuffers.PROPERTY, before);
            }
        }
    }
}
