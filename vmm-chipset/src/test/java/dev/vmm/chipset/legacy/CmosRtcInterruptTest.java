package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.testing.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The RTC's interrupt logic driven as a guest driver would, against a clock the test moves: the
 * periodic rates of status A, the alarm comparison (BCD, binary, 12-hour, don't-care bytes), the
 * once-per-second update flag, status C clearing, IRQ 8 edges, the divider reset, and the deadline
 * the timer thread sleeps to.
 */
class CmosRtcInterruptTest {
    static final long GIB = 1L << 30;
    // 13:45:07 exactly, UTC
    final MutableClock clock = new MutableClock(Instant.parse("2024-02-29T13:45:07Z"), ZoneOffset.UTC);
    final List<Boolean> edges = new ArrayList<>();
    final CmosRtc rtc = new CmosRtc(clock, edges::add, 2 * GIB, 0);
    int alarms;
    int reprograms;

    {
        rtc.onAlarmInterrupt(() -> alarms++);
        rtc.onReprogram(() -> reprograms++);
    }

    int cmos(int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    void cmos(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    void advanceNanos(long nanos) {
        clock.advance(Duration.ofNanos(nanos));
        rtc.poll();
    }

    /** Nanoseconds from now to the model's next deadline. */
    long untilDeadline() {
        long d = rtc.nextDeadlineNanos();
        if (d == Long.MAX_VALUE) return d;
        Instant now = clock.instant();
        return d - (now.getEpochSecond() * 1_000_000_000L + now.getNano());
    }

    @Test
    void periodicFlagAtEachRateOfStatusA() {
        cmos(0x0c);
        for (int rs = 1; rs <= 15; rs++) {
            long cycles = rs <= 2 ? 1L << (rs + 6) : 1L << (rs - 1);
            long periodNanos = cycles * 1_000_000_000L / 32_768;
            cmos(0x0a, 0x20 | rs);
            cmos(0x0b, 0x42);                            // PIE, 24 h BCD
            cmos(0x0c);
            long wait = untilDeadline();
            assertThat(wait).as("RS %d: deadline within one period", rs).isPositive().isLessThanOrEqualTo(periodNanos + 1);
            if (wait > 1) {
                advanceNanos(wait - 1);
                assertThat(cmos(0x0c) & 0x40).as("RS %d: no PF before the tick", rs).isZero();
                advanceNanos(1);
            } else {
                advanceNanos(wait);
            }
            assertThat(cmos(0x0c) & 0xc0).as("RS %d: PF and IRQF at the tick", rs).isEqualTo(0xc0);
            long next = untilDeadline();
            assertThat(Math.abs(next - periodNanos)).as("RS %d: the next tick one period later", rs).isLessThanOrEqualTo(1);
        }
    }

    @Test
    void noPeriodicFlagWithoutPieOrWithRateZero() {
        cmos(0x0a, 0x26);
        cmos(0x0c);
        advanceNanos(3_000_000);
        assertThat(cmos(0x0c) & 0x40).isZero();
        cmos(0x0a, 0x20);
        cmos(0x0b, 0x42);
        advanceNanos(3_000_000);
        assertThat(cmos(0x0c) & 0x40).isZero();
        assertThat(untilDeadline()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void updateFlagOncePerSecondAndTheInterruptOnlyWithUie() {
        cmos(0x0c);
        advanceNanos(999_999_999);
        assertThat(cmos(0x0c)).isZero();
        advanceNanos(1);
        assertThat(cmos(0x0c)).isEqualTo(0x10);            // UF without UIE: no IRQF, no edge
        assertThat(edges).isEmpty();
        advanceNanos(5_000_000_000L);                       // five updates while nobody looked: one UF
        assertThat(cmos(0x0c)).isEqualTo(0x10);
        assertThat(cmos(0x0c)).isZero();                    // read-to-clear
        cmos(0x0b, 0x12);                                   // UIE
        assertThat(untilDeadline()).isEqualTo(1_000_000_000L);
        advanceNanos(1_000_000_000L);
        assertThat(edges).containsExactly(true);
        assertThat(untilDeadline()).as("IRQF up: nothing more until C is read").isEqualTo(Long.MAX_VALUE);
        assertThat(cmos(0x0c)).isEqualTo(0x90);
        assertThat(edges).containsExactly(true, false);
    }

    @Test
    void enablingAnInterruptWithItsFlagPendingRaisesAtOnceAndDisablingDrops() {
        advanceNanos(1_000_000_000L);                        // UF pending
        cmos(0x0b, 0x12);
        assertThat(edges).containsExactly(true);
        cmos(0x0b, 0x02);
        assertThat(edges).containsExactly(true, false);
        assertThat(cmos(0x0c)).isEqualTo(0x10);
    }

    @Test
    void alarmMatchInBcdWithWildcards() {
        cmos(0x01, 0x30);                                    // hh:mm:30
        cmos(0x03, 0xff);
        cmos(0x05, 0xc0);
        cmos(0x0b, 0x22);                                    // AIE
        cmos(0x0c);
        assertThat(untilDeadline()).isEqualTo(23_000_000_000L); // 13:45:07 -> 13:45:30
        advanceNanos(22_999_999_999L);
        assertThat(edges).isEmpty();
        assertThat(alarms).isZero();
        advanceNanos(1);
        assertThat(edges).containsExactly(true);
        assertThat(alarms).isEqualTo(1);
        assertThat(cmos(0x0c)).isEqualTo(0x80 | 0x20 | 0x10);
        assertThat(untilDeadline()).isEqualTo(60_000_000_000L); // the next minute's :30
    }

    @Test
    void alarmMatchInBinaryTwelveHourMode() {
        cmos(0x0b, 0x04 | 0x20);                             // binary, 12 h, AIE
        cmos(0x01, 0);
        cmos(0x03, 0);
        cmos(0x05, 0x80 | 2);                                // 2 PM
        cmos(0x0c);
        assertThat(untilDeadline()).isEqualTo((14 * 3600L - (13 * 3600 + 45 * 60 + 7)) * 1_000_000_000L);
        cmos(0x05, 2);                                       // 2 AM: tomorrow
        assertThat(untilDeadline()).isEqualTo(((24 + 2) * 3600L - (13 * 3600 + 45 * 60 + 7)) * 1_000_000_000L);
        clock.set(Instant.parse("2024-03-01T02:00:00Z"));
        rtc.poll();
        assertThat(cmos(0x0c) & 0xa0).isEqualTo(0xa0);
    }

    @Test
    void alarmFlagWithoutAieMatchesAlarmsMissedWhileNobodyLooked() {
        cmos(0x01, 0x10);
        cmos(0x03, 0x46);
        cmos(0x05, 0x13);                                    // 13:46:10
        cmos(0x0c);
        assertThat(untilDeadline()).as("no AIE: no deadline").isEqualTo(Long.MAX_VALUE);
        clock.advance(Duration.ofMinutes(5));                // passed 13:46:10 without a look
        assertThat(cmos(0x0c)).isEqualTo(0x30);
        assertThat(edges).isEmpty();
        assertThat(alarms).isZero();
    }

    @Test
    void impossibleAlarmNeverMatches() {
        cmos(0x01, 0x75);                                    // not a BCD second
        cmos(0x03, 0xff);
        cmos(0x05, 0xff);
        cmos(0x0b, 0x22);
        assertThat(untilDeadline()).isEqualTo(Long.MAX_VALUE);
        advanceNanos(3 * 86_400_000_000_000L);
        assertThat(cmos(0x0c) & 0x20).isZero();
    }

    @Test
    void setBitStopsUpdatesAndAlarms() {
        cmos(0x01, 0xff);
        cmos(0x03, 0xff);
        cmos(0x05, 0xff);
        cmos(0x0b, 0x80 | 0x22);
        cmos(0x0c);
        advanceNanos(3_000_000_000L);
        assertThat(cmos(0x0c)).isZero();
        assertThat(edges).isEmpty();
    }

    @Test
    void dividerResetHoldsTimeAndTheFirstUpdateComesHalfASecondAfterRelease() {
        clock.advance(Duration.ofMillis(300));
        cmos(0x0a, 0x76);                                   // divider reset
        cmos(0x0c);
        clock.advance(Duration.ofSeconds(10));
        assertThat(cmos(0x00)).isEqualTo(0x07);              // held
        assertThat(cmos(0x0c)).isZero();
        cmos(0x0b, 0x12);
        assertThat(untilDeadline()).isEqualTo(Long.MAX_VALUE);
        cmos(0x0a, 0x26);
        assertThat(untilDeadline()).isEqualTo(500_000_000L);
        advanceNanos(499_999_999L);
        assertThat(cmos(0x00)).isEqualTo(0x07);
        assertThat(edges).isEmpty();
        advanceNanos(1);
        assertThat(cmos(0x00)).isEqualTo(0x08);
        assertThat(edges).containsExactly(true);
    }

    @Test
    void timeSetWhileTheDividerIsHeldStartsFromTheWrittenValue() {
        cmos(0x0a, 0x70);
        cmos(0x0b, 0x82);
        cmos(0x00, 0x59);
        cmos(0x0b, 0x02);
        cmos(0x0a, 0x20);
        advanceNanos(500_000_000L);
        assertThat(cmos(0x00)).isEqualTo(0x00);
        assertThat(cmos(0x02)).isEqualTo(0x46);
    }

    @Test
    void hpetLegacyRouteCutsTheOutputButNotTheFlags() {
        rtc.hpetLegacyRoute(true);
        cmos(0x0b, 0x12);
        advanceNanos(1_000_000_000L);
        assertThat(edges).isEmpty();
        rtc.hpetLegacyRoute(false);
        assertThat(edges).containsExactly(true);
        assertThat(cmos(0x0c)).isEqualTo(0x90);
        assertThat(edges).containsExactly(true, false);
    }

    @Test
    void accessesThatMayMoveTheDeadlineTellTheTimer() {
        int before = reprograms;
        cmos(0x0b, 0x12);
        assertThat(reprograms).isGreaterThan(before);
        before = reprograms;
        cmos(0x0c);
        assertThat(reprograms).isGreaterThan(before);
    }

    @Test
    void stateKeepsPendingFlagsAndTheHeldDivider() {
        cmos(0x0b, 0x12);
        advanceNanos(1_000_000_000L);
        cmos(0x0a, 0x76);
        CmosRtc.State s = rtc.state();
        List<Boolean> copyEdges = new ArrayList<>();
        CmosRtc copy = new CmosRtc(clock, copyEdges::add, GIB, 0);
        copy.restore(s);
        assertThat(copyEdges).as("the line re-driven from the restored IRQF").containsExactly(true);
        clock.advance(Duration.ofSeconds(5));
        copy.write(0, 1, 0);
        assertThat(copy.read(1, 1)).isEqualTo(0x08);          // still held at 13:45:08
        copy.write(0, 1, 0x0c);
        assertThat(copy.read(1, 1)).isEqualTo(0x90);
    }

    @Test
    void versionOneStateUpgrades() {
        byte[] bytes = rtc.state().cmos();
        CmosRtc.State s = new CmosRtc.StateV1(bytes, 0x0c, false, 5_000_000_000L, Instant.parse("2024-02-29T13:45:07Z").getEpochSecond()).upgrade();
        CmosRtc copy = new CmosRtc(clock, edges::add, GIB, 0);
        copy.restore(s);
        copy.write(0, 1, 0);
        assertThat(copy.read(1, 1)).isEqualTo(0x12);          // offset 5 s kept
        assertThat(new CmosRtc.StateV1(bytes, 0, false, 0, Long.MAX_VALUE).upgrade().lastCheckNanos()).isZero();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new CmosRtc.StateV1(new byte[3], 0, false, 0, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
