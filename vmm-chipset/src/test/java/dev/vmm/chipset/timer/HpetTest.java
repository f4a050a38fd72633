package dev.vmm.chipset.timer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.testing.RecordingLine;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The HPET state machine under a test-controlled clock. */
class HpetTest {
    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final Map<Integer, RecordingLine> pins = new HashMap<>();
    final Hpet hpet = new Hpet(now::get, pin -> pins.computeIfAbsent(pin, p -> new RecordingLine()));

    RecordingLine pin(int p) { return pins.computeIfAbsent(p, x -> new RecordingLine()); }

    void advance(long ns) {
        now.addAndGet(ns);
        hpet.poll();
    }

    static long tn(int t) { return Hpet.TIMER0 + 0x20L * t; }

    @Test
    void capabilitiesDescribeThreeTimers64BitLegacyCapableAt100MHz() {
        long cap = hpet.read(Hpet.CAP, 8);
        assertThat(cap & 0xff).as("revision").isEqualTo(1);
        assertThat((cap >>> 8 & 0x1f) + 1).as("timers").isEqualTo(3);
        assertThat(cap & 1L << 13).as("64-bit counter").isNotZero();
        assertThat(cap & 1L << 15).as("legacy replacement capable").isNotZero();
        assertThat(cap >>> 16 & 0xffff).isEqualTo(0x8086);
        assertThat(hpet.read(Hpet.CAP + 4, 4)).as("period in fs, 32-bit read of the high half").isEqualTo(10_000_000L);
        for (int t = 0; t < 3; t++) {
            long c = hpet.read(tn(t), 8);
            assertThat(c & Hpet.TN_PERIODIC_CAP).isNotZero();
            assertThat(c & Hpet.TN_SIZE_CAP).isNotZero();
            assertThat(c >>> 32).as("route capability").isEqualTo(Hpet.ROUTE_CAP);
        }
    }

    @Test
    void mainCounterRunsAt100MHzOnlyWhileEnabledAndIsWritable() {
        advance(5000);
        assertThat(hpet.read(Hpet.COUNTER, 8)).isZero();
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        advance(1000);
        assertThat(hpet.read(Hpet.COUNTER, 8)).isEqualTo(100);
        hpet.write(Hpet.CONFIG, 4, 0);
        advance(1000);
        assertThat(hpet.read(Hpet.COUNTER, 4)).isEqualTo(100);
        hpet.write(Hpet.COUNTER + 4, 4, 1);             // high half: 2^32 + 100
        assertThat(hpet.read(Hpet.COUNTER, 8)).isEqualTo((1L << 32) + 100);
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        advance(30);
        assertThat(hpet.counter()).isEqualTo((1L << 32) + 103);
        assertThat(hpet.read(Hpet.COUNTER + 4, 4)).isEqualTo(1);
    }

    @Test
    void oneShotEdgeInterruptOnTheRoutedPinAtTheComparator() {
        hpet.write(tn(2), 4, Hpet.TN_ENABLE | 20 << Hpet.TN_ROUTE_SHIFT);
        hpet.write(tn(2) + 8, 8, 500);
        assertThat(hpet.nextDeadlineNanos()).as("main counter off").isEqualTo(Long.MAX_VALUE);
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        long start = now.get();
        assertThat(hpet.nextDeadlineNanos()).isEqualTo(start + 5000);
        advance(4990);
        assertThat(pin(20).risingEdges()).isZero();
        advance(10);
        assertThat(pin(20).risingEdges()).isEqualTo(1);
        assertThat(pin(20).level()).as("edge: pulsed").isFalse();
        advance(1_000_000);
        assertThat(pin(20).risingEdges()).as("one shot").isEqualTo(1);
        assertThat(hpet.nextDeadlineNanos()).isEqualTo(Long.MAX_VALUE);
        assertThat(hpet.read(Hpet.ISR, 8)).as("edge timers leave no status").isZero();
        // Re-arming with a new comparator fires again.
        hpet.write(tn(2) + 8, 8, hpet.counter() + 10);
        advance(100);
        assertThat(pin(20).risingEdges()).isEqualTo(2);
    }

    @Test
    void periodicModeAsLinuxProgramsItWithValSet() {
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
        // Linux's hpet_set_periodic: config with PERIODIC|VAL_SET|32BIT, comparator = now + delta
        // (32-bit write), then the period.
        hpet.write(tn(0), 4, Hpet.TN_ENABLE | Hpet.TN_PERIODIC | Hpet.TN_VAL_SET | Hpet.TN_32BIT);
        hpet.write(tn(0) + 8, 4, hpet.counter() + 1000);
        hpet.write(tn(0) + 8, 4, 1000);
        assertThat(hpet.read(tn(0), 4) & Hpet.TN_VAL_SET).as("VAL_SET self-clears").isZero();
        RecordingLine irq0 = pin(2);                    // legacy replacement: timer 0 -> IRQ 0 -> IOAPIC pin 2
        for (int tick = 1; tick <= 5; tick++) {
            advance(10_000);
            assertThat(irq0.risingEdges()).isEqualTo(tick);
        }
        // Missed periods collapse into one interrupt and the next comparator is in the future.
        advance(55_000);
        assertThat(irq0.risingEdges()).isEqualTo(6);
        assertThat(hpet.read(tn(0) + 8, 8)).isGreaterThan(hpet.counter());
        // The same in 64-bit mode, setting both comparator halves.
        hpet.write(tn(2), 4, Hpet.TN_ENABLE | Hpet.TN_PERIODIC | Hpet.TN_VAL_SET | 21 << Hpet.TN_ROUTE_SHIFT);
        hpet.write(tn(2) + 8, 8, hpet.counter() + 500);
        hpet.write(tn(2) + 8, 8, 500);
        advance(5000);
        advance(5000);
        assertThat(pin(21).risingEdges()).isEqualTo(2);
        assertThat(hpet.nextDeadlineNanos()).isGreaterThan(now.get()).isLessThanOrEqualTo(now.get() + 10_000);
        assertThat(pins.keySet()).doesNotContain(0);
    }

    @Test
    void legacyReplacementRoutesTimer1ToIrq8AndLevelModeHoldsTheLineUntilCleared() {
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE | Hpet.CFG_LEGACY);
        hpet.write(tn(1), 4, Hpet.TN_ENABLE | Hpet.TN_LEVEL | 17 << Hpet.TN_ROUTE_SHIFT);
        hpet.write(tn(1) + 8, 8, hpet.counter() + 50);
        advance(500);
        assertThat(pin(8).level()).isTrue();
        assertThat(pins.containsKey(17) && pin(17).risingEdges() > 0).isFalse();
        assertThat(hpet.read(Hpet.ISR, 4)).isEqualTo(2);
        hpet.write(Hpet.ISR, 4, 1);                     // other bit: no effect
        assertThat(pin(8).level()).isTrue();
        hpet.write(Hpet.ISR, 4, 2);
        assertThat(pin(8).level()).isFalse();
        // Without legacy replacement the same timer uses its route (17).
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        hpet.write(tn(1) + 8, 8, hpet.counter() + 50);
        advance(500);
        assertThat(pin(17).level()).isTrue();
        hpet.write(tn(1), 4, Hpet.TN_LEVEL | 17 << Hpet.TN_ROUTE_SHIFT);   // disabling the timer drops the line
        assertThat(pin(17).level()).isFalse();
    }

    @Test
    void aComparatorBehindThe64BitCounterMeansNoDeadline() {
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        advance(10_000);
        hpet.write(tn(1), 4, Hpet.TN_ENABLE | 16 << Hpet.TN_ROUTE_SHIFT);
        hpet.write(tn(1) + 8, 8, 5);                     // already passed: fires only after a 2^64 wrap
        assertThat(hpet.nextDeadlineNanos()).isEqualTo(Long.MAX_VALUE);
        advance(1_000_000);
        assertThat(pin(16).risingEdges()).isZero();
        hpet.write(tn(1) + 8, 8, hpet.counter() + 3);    // 30 ns from now, deadline on the tick boundary
        long d = hpet.nextDeadlineNanos();
        assertThat(d - now.get()).isBetween(21L, 30L);
        now.set(d);
        hpet.poll();
        assertThat(pin(16).risingEdges()).isEqualTo(1);
    }

    @Test
    void thirtyTwoBitModeWrapsAndBadAccessesAreHarmless() {
        hpet.write(Hpet.COUNTER, 8, 0xffff_fff0L);
        hpet.write(tn(0), 4, Hpet.TN_ENABLE | Hpet.TN_32BIT | 16 << Hpet.TN_ROUTE_SHIFT);
        hpet.write(tn(0) + 8, 8, 0x1_0000_0010L);       // upper half kept (as QEMU) but not compared in 32-bit mode
        assertThat(hpet.read(tn(0) + 8, 8)).isEqualTo(0x1_0000_0010L);
        hpet.write(Hpet.CONFIG, 4, Hpet.CFG_ENABLE);
        advance(310);                                    // counter 0x1_0000_000f
        assertThat(pin(16).risingEdges()).isZero();
        advance(10);
        assertThat(pin(16).risingEdges()).isEqualTo(1);
        // An unsupported route (pin 5) reads back but delivers nothing; odd sizes, misaligned and outside accesses do nothing.
        hpet.write(tn(0), 4, Hpet.TN_ENABLE | 5 << Hpet.TN_ROUTE_SHIFT);
        assertThat(hpet.read(tn(0), 4) >>> Hpet.TN_ROUTE_SHIFT & 0x1f).isEqualTo(5);
        hpet.write(tn(0) + 8, 4, hpet.counter() + 5);
        advance(100);
        assertThat(pins).doesNotContainKey(5);
        assertThat(pin(16).risingEdges()).isEqualTo(1);
        assertThat(hpet.read(Hpet.CAP, 2)).isZero();
        assertThat(hpet.read(Hpet.CAP + 2, 4)).isZero();
        assertThat(hpet.read(0x3fc, 8)).isZero();
        assertThat(hpet.read(0x400, 4)).isZero();
        hpet.write(Hpet.CONFIG, 1, 0);
        assertThat(hpet.read(Hpet.CONFIG, 4)).isEqualTo(Hpet.CFG_ENABLE);
        hpet.write(Hpet.CAP, 8, 0);
        assertThat(hpet.read(Hpet.CAP, 8)).isEqualTo(Hpet.capabilities());
        hpet.write(tn(0) + 0x10, 8, -1);
        assertThat(hpet.read(tn(0) + 0x10, 8)).as("no FSB delivery").isZero();
    }
}
