package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The RTC alarm as an S3 wake event: alarm interrupt + suspended + RTC_EN wakes (RTC_STS and
 * WAK_STS set, WAKEUP, running); without RTC_EN, or while running, the alarm is only an interrupt.
 */
@Timeout(30)
class RtcAlarmWakeTest {
    static final class TestClock extends Clock {
        volatile Instant now = Instant.parse("2025-06-01T10:00:00Z");
        @Override public ZoneId getZone() { return ZoneOffset.UTC; }
        @Override public Clock withZone(ZoneId zone) { return this; }
        @Override public Instant instant() { return now; }
    }

    final TestClock clock = new TestClock();
    final CmosRtc rtc = new CmosRtc(clock, level -> { }, 256L << 20, 0);
    final AcpiPm pm = new AcpiPm(level -> { }, () -> { }, System::nanoTime);
    final Lifecycle lifecycle = new Lifecycle();
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<String> failures = new CopyOnWriteArrayList<>();
    final GuestSleep sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
        @Override public void parkVcpus() { }
        @Override public WakeEntry wakeEntry() { return WakeEntry.decode(0x9A000, 0, 2); }
        @Override public void wakeStatus(boolean byRtc) { pm.wake(byRtc); }
        @Override public void resumeAt(WakeEntry entry) { }
        @Override public void resetInstead(String why) { failures.add(why); }
    });

    RtcAlarmWakeTest() {
        lifecycle.addSink((name, data) -> events.add(name));
        RtcAlarmWake.install(rtc, pm, sleep, failures::add);
        lifecycle.states().transition(RunState.RUNNING);
    }

    void cmos(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    /** The guest's alarm: 10:00:02, AIE. */
    void armAlarm() {
        cmos(0x01, 0x02);
        cmos(0x03, 0x00);
        cmos(0x05, 0x10);
        cmos(0x0b, 0x22);
    }

    void alarmTime() {
        clock.now = clock.now.plusSeconds(2);
        rtc.poll();
    }

    void awaitWakeup() throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!events.contains(GuestSleep.WAKEUP) && System.nanoTime() - end < 0) Thread.onSpinWait();
    }

    @Test
    void alarmWithRtcEnWakesASuspendedGuest() throws Exception {
        armAlarm();
        pm.write(AcpiPm.EVT_OFFSET + 2, 2, AcpiPm.RTC_EN);
        sleep.suspend();
        alarmTime();
        awaitWakeup();
        assertThat(events).containsExactly(GuestSleep.SUSPEND, GuestSleep.WAKEUP);
        assertThat(lifecycle.state()).isEqualTo(RunState.RUNNING);
        assertThat(pm.read(AcpiPm.EVT_OFFSET, 2) & (AcpiPm.WAK_STS | AcpiPm.RTC_STS)).isEqualTo(AcpiPm.WAK_STS | AcpiPm.RTC_STS);
        assertThat(failures).isEmpty();
    }

    @Test
    void withoutRtcEnTheGuestSleepsOn() throws Exception {
        armAlarm();
        sleep.suspend();
        alarmTime();
        assertThat(lifecycle.state()).isEqualTo(RunState.SUSPENDED);
        sleep.wakeup(false);                                     // system_wakeup still works, without RTC_STS
        assertThat(pm.read(AcpiPm.EVT_OFFSET, 2) & AcpiPm.RTC_STS).isZero();
    }

    @Test
    void anAlarmWhileRunningIsOnlyAnInterrupt() {
        armAlarm();
        pm.write(AcpiPm.EVT_OFFSET + 2, 2, AcpiPm.RTC_EN);
        alarmTime();
        assertThat(events).isEmpty();
        assertThat(pm.read(AcpiPm.EVT_OFFSET, 2) & AcpiPm.WAK_STS).isZero();
    }
}
