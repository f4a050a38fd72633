package dev.vmm.ram;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.machine.GuestRam;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.balloon.MadviseBalloonHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Guest RAM as {@code --memory} maps it, measured in this process's /proc/self/smaps (no KVM: RAM
 * is mapped before {@code /dev/kvm} is opened): THP by default and off with thp=off, prealloc
 * makes the mapping resident at once (MADV_POPULATE_WRITE and the touch fallback), share=on is a
 * memfd, and a balloon release gives the pages back (Rss drops).
 */
@Timeout(60)
class GuestRamBackingTest {
    private static final long SIZE = 64L << 20;

    private static GuestMemory map(boolean share, boolean thp, boolean prealloc) {
        return GuestRam.map(SIZE, new GuestRam.Options(share, false, false, thp, prealloc));
    }

    private static MemorySegment host(GuestMemory m) { return m.regions().get(0).host(); }

    private static void touchAll(MemorySegment s) {
        for (long off = 0; off < s.byteSize(); off += 4096) s.set(ValueLayout.JAVA_BYTE, off, (byte) 1);
    }

    @Test
    void thpModeIsReadFromTheBracketsAndDecidesTheAdvice() {
        assertThat(ThpPolicy.mode("always [madvise] never\n")).isEqualTo("madvise");
        assertThat(ThpPolicy.mode("[always] madvise never")).isEqualTo("always");
        assertThat(ThpPolicy.mode("always madvise [never]")).isEqualTo("never");
        assertThat(ThpPolicy.mode("garbage")).isEqualTo("never");
        assertThat(ThpPolicy.mode(null)).isEqualTo("never");
        assertThat(ThpPolicy.advice("madvise", true)).isEqualTo(Libc.MADV_HUGEPAGE);
        assertThat(ThpPolicy.advice("madvise", false)).isEqualTo(ThpPolicy.NONE);
        assertThat(ThpPolicy.advice("always", true)).isEqualTo(Libc.MADV_HUGEPAGE);
        assertThat(ThpPolicy.advice("always", false)).isEqualTo(Libc.MADV_NOHUGEPAGE);
        assertThat(ThpPolicy.advice("never", true)).isEqualTo(ThpPolicy.NONE);
    }

    @Test
    void guestRamGetsHugePagesByDefaultAndNoneWithThpOff() throws Exception {
        String mode = ThpPolicy.hostMode();
        assumeTrue(!mode.equals("never"), "this host's THP mode is 'never' (" + ThpPolicy.SYSFS + ")");
        GuestMemory on = map(false, true, false);
        try {
            touchAll(host(on));
            Smaps s = Smaps.of(host(on).address());
            assertThat(s.get("AnonHugePages")).as("THP default, host mode %s: %s", mode, s).isGreaterThan(0);
        } finally {
            GuestRam.unmap(on);
        }
        GuestMemory off = map(false, false, false);
        try {
            touchAll(host(off));
            Smaps s = Smaps.of(host(off).address());
            assertThat(s.get("AnonHugePages")).as("thp=off, host mode %s: %s", mode, s).isZero();
        } finally {
            GuestRam.unmap(off);
        }
    }

    @Test
    void preallocMakesEveryPageResidentBeforeTheGuestRuns() throws Exception {
        GuestMemory lazy = map(false, false, false);
        try {
            assertThat(Smaps.of(host(lazy).address()).get("Rss")).isLessThan(SIZE >> 10 >> 4);
        } finally {
            GuestRam.unmap(lazy);
        }
        GuestMemory pre = map(false, false, true);
        try {
            assertThat(Smaps.of(host(pre).address()).get("Rss")).isGreaterThanOrEqualTo(SIZE >> 10);
            assertThat(host(pre).get(ValueLayout.JAVA_BYTE, SIZE - 1)).isZero();
        } finally {
            GuestRam.unmap(pre);
        }
    }

    @Test
    void theTouchFallbackAlsoMakesTheMappingResident() throws Exception {
        MemorySegment m = RamMapping.map(SIZE, false, false);
        try {
            RamPrealloc.touch(m);
            assertThat(Smaps.of(m.address()).get("Rss")).isGreaterThanOrEqualTo(SIZE >> 10);
        } finally {
            Libc.munmap(m);
        }
    }

    @Test
    void shareOnIsAMemfdAndTheBalloonGivesItsPagesBack() throws Exception {
        GuestMemory shared = map(true, true, true);
        try {
            Smaps before = Smaps.of(host(shared).address());
            assertThat(before.header()).contains("/memfd:vmm-guest-ram");
            assertThat(before.get("Rss")).isGreaterThanOrEqualTo(SIZE >> 10);
            assertThat(new MadviseBalloonHost(shared, true).release(0, SIZE / 2)).isTrue();
            assertThat(Smaps.of(host(shared).address()).get("Rss")).isLessThanOrEqualTo((SIZE / 2) >> 10);
        } finally {
            GuestRam.unmap(shared);
        }
    }

    @Test
    void aBalloonReleaseOfPrivateRamDropsItsRss() throws Exception {
        GuestMemory ram = map(false, true, true);
        try {
            assertThat(new MadviseBalloonHost(ram, false).release(0, SIZE - (4L << 20))).isTrue();
            assertThat(Smaps.of(host(ram).address()).get("Rss")).isLessThanOrEqualTo(4L << 10);
        } finally {
            GuestRam.unmap(ram);
        }
    }
}
