package dev.vmm.chipset.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PmTimerTest {
    final AtomicLong now = new AtomicLong(123_456_789L);

    @Test
    void countsAt3579545HzAndWrapsAt24Bits() {
        PmTimer t = new PmTimer(now::get, 24);
        assertThat(t.read(0, 4)).isZero();
        now.addAndGet(1_000_000_000L);
        assertThat(t.read(0, 4)).isEqualTo(3_579_545L);
        now.addAndGet(1_000L);                                   // 1 us = 3.58 ticks
        assertThat(t.read(0, 4)).isEqualTo(3_579_548L);
        // 2^24 ticks = 4.687 s: the value wraps and never shows bits above 23.
        now.addAndGet(4_000_000_000L);
        long v = t.read(0, 4);
        assertThat(v).isLessThan(1L << 24).isEqualTo((5 * 3_579_545L + 3) & 0xffffff);
        assertThat(t.read(2, 1)).isEqualTo(v >>> 16 & 0xff);
        assertThat(t.read(1, 2)).isEqualTo(v >>> 8 & 0xffff);
    }

    @Test
    void thirtyTwoBitTimerAndStatusToggles() {
        PmTimer t = new PmTimer(now::get, 32);
        now.addAndGet(3_600_000_000_000L);                      // an hour
        assertThat(t.read(0, 4)).isEqualTo(3600L * 3_579_545L & 0xffff_ffffL);
        assertThat(t.statusToggles()).isEqualTo(3600L * 3_579_545L >>> 31);
        assertThat(t.statusToggles()).isZero();
        PmTimer s = new PmTimer(now::get, 24);
        now.addAndGet(2_344_000_000L);                          // just past 2^23 ticks
        assertThat(s.statusToggles()).isEqualTo(1);
    }

    @Test
    void readOnlyAndOddAccessesReadZero() {
        PmTimer t = new PmTimer(now::get, 24);
        now.addAndGet(10_000_000L);
        long v = t.read(0, 4);
        t.write(0, 4, 0);
        assertThat(t.read(0, 4)).isEqualTo(v);
        assertThat(t.read(2, 4)).isZero();
        assertThat(t.read(0, 8)).isZero();
        assertThatThrownBy(() -> new PmTimer(now::get, 16)).isInstanceOf(IllegalArgumentException.class);
    }
}
