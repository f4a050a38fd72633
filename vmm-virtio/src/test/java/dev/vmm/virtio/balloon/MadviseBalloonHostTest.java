package dev.vmm.virtio.balloon;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The real host side on real anonymous mappings: released pages read back as zeroes (the kernel
 * dropped them), neighbours keep their bytes, for private (DONTNEED) and shared (REMOVE) RAM.
 */
class MadviseBalloonHostTest {
    private static final long SIZE = 1 << 20;

    private static void check(boolean shared) {
        int flags = (shared ? Libc.MAP_SHARED : Libc.MAP_PRIVATE) | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE;
        MemorySegment host = Libc.mmap(MemorySegment.NULL, SIZE, Libc.PROT_READ | Libc.PROT_WRITE, flags, -1, 0);
        try {
            host.fill((byte) 0x5A);
            GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0x100000, host)));
            MadviseBalloonHost h = new MadviseBalloonHost(mem, shared);
            assertThat(h.advice()).isEqualTo(shared ? Libc.MADV_REMOVE : Libc.MADV_DONTNEED);
            assertThat(h.release(0x100000 + 0x3000, 0x2000)).isTrue();
            assertThat(host.get(ValueLayout.JAVA_BYTE, 0x2FFF)).isEqualTo((byte) 0x5A);
            assertThat(host.get(ValueLayout.JAVA_BYTE, 0x3000)).isZero();
            assertThat(host.get(ValueLayout.JAVA_BYTE, 0x4FFF)).isZero();
            assertThat(host.get(ValueLayout.JAVA_BYTE, 0x5000)).isEqualTo((byte) 0x5A);
            assertThat(h.release(0x100000 + SIZE - 0x1000, 0x2000)).as("past the end of RAM").isFalse();
            assertThat(h.release(0, 0x1000)).as("below RAM").isFalse();
        } finally {
            Libc.munmap(host);
        }
    }

    @Test
    void privateRamIsDroppedWithDontneed() {
        check(false);
    }

    @Test
    void sharedRamIsDroppedWithRemove() {
        check(true);
    }
}
