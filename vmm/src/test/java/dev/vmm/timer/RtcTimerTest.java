package dev.vmm.timer;

import dev.vmm.chipset.legacy.CmosRtc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The RTC's timer thread: with a clock the test moves (the thread delivers what the model's
 * deadline says once kicked), and with the host clock (the thread wakes by itself at the deadline:
 * a 2 Hz periodic interrupt arrives without any access).
 */
@Timeout(30)
class RtcTimerTest {
    static final class TestClock extends Clock {
        volatile Instant now = Instant.parse("2025-06-01T10:00:00Z");
        @Override public ZoneId getZone() { return ZoneOffset.UTC; }
        @Override public Clock withZone(ZoneId zone) { return this; }
        @Override public Instant instant() { return now; }
    }

    final BlockingQueue<Boolean> line = new LinkedBlockingQueue<>();

    static void cmos(CmosRtc rtc, int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    static int cmos(CmosRtc rtc, int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    Boolean next() throws InterruptedException {
        Boolean b = line.poll(10, TimeUnit.SECONDS);
        assertNotNull(b, "no IRQ 8 change within 10 s");
        return b;
    }

    @Test
    void updateInterruptEachSecondOfTheModelsClock() throws Exception {
        TestClock clock = new TestClock();
        CmosRtc rtc = new CmosRtc(clock, line::add, 256L << 20, 0);
        try (RtcTimer t = new RtcTimer(rtc)) {
            cmos(rtc, 0x0b, 0x12);                                   // UIE
            assertNull(line.poll(100, TimeUnit.MILLISECONDS), "no update before the second ends");
            for (int i = 0; i < 3; i++) {
                clock.now = clock.now.plusSeconds(1);
                t.kick();
                assertEquals(true, next());
                assertEquals(0x90, cmos(rtc, 0x0c));                 // the handler's read drops the line
                assertEquals(false, next());
            }
        }
    }

    @Test
    void periodicInterruptArrivesWithoutAnyAccess() throws Exception {
        CmosRtc rtc = new CmosRtc(Clock.systemUTC(), line::add, 256L << 20, 0);
        try (RtcTimer t = new RtcTimer(rtc)) {
            cmos(rtc, 0x0a, 0x2f);                                   // 2 Hz
            cmos(rtc, 0x0b, 0x42);                                   // PIE
            long start = System.nanoTime();
            assertEquals(true, next());
            assertEquals(0xc0, cmos(rtc, 0x0c) & 0xc0);
            assertEquals(false, next());
            assertEquals(true, next());
            long elapsed = System.nanoTime() - start;
            // two ticks of a 500 ms period: more than one period, and not far beyond two
            org.assertj.core.api.Assertions.assertThat(elapsed).isBetween(500_000_000L, 5_000_000_000L);
        }
    }

    @Test
    void closeStopsTheThread() throws Exception {
        TestClock clock = new TestClock();
        CmosRtc rtc = new CmosRtc(clock, line::add, 256L << 20, 0);
        RtcTimer t = new RtcTimer(rtc);
        t.close();
        cmos(rtc, 0x0b, 0x12);
        clock.now = clock.now.plusSeconds(1);
        t.kick();
        assertNull(line.poll(200, TimeUnit.MILLISECONDS), "no thread after close");
    }
}
