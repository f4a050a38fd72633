package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the smoke kernel's {@code test_suspend=mem} does to the machine, replayed register access by
 * register access as Linux 6.1 does it with ACPI on and no DMI (direct kernel boot: rtc-cmos does not
 * take its "ACPI alarm" quirk, which needs a BIOS year): rtc-cmos' probe (ACPICA installs the RTC
 * fixed-event handler: RTC_STS cleared, RTC_EN set and read back; rtc-cmos clears and disables it
 * again), {@code cmos_set_alarm} 10 s ahead (AIE off, the alarm registers inside the update-in-progress
 * guard, AIE on), {@code cmos_suspend} (every RTC interrupt masked but AIE, RTC_EN set through
 * {@code rtc_wake_on}), the FACS waking vector, {@code acpi_hw_legacy_sleep}(S3) (WAK_STS cleared, all
 * fixed status cleared, SLP_TYP then SLP_TYP|SLP_EN), then on resume {@code acpi_leave_sleep_state}
 * and {@code cmos_resume} (RTC_EN off, the alarm checked and re-armed, RTC_STS read through
 * {@code acpi_get_event_status}). The machine side is the real one without KVM: CmosRtc, AcpiPm,
 * GuestSleep, RtcAlarmWake, the wake's device reset, the FACS found through our own ACPI tables.
 * Source read: drivers/rtc/rtc-cmos.c, drivers/rtc/rtc-mc146818-lib.c, drivers/acpi/acpica/hwsleep.c,
 * evxfevnt.c, hwxface.c, drivers/acpi/sleep.c of linux-source-6.1.
 */
@Timeout(30)
class LinuxRtcCmosS3Test {
    static final long RSDP = 0xE0000;
    /** Where Linux's realmode trampoline puts {@code wakeup_start} (any address below 1 MiB would do). */
    static final int WAKEUP_START = 0x9A000;
    // CMOS registers and bits (MC146818).
    static final int SECONDS = 0, SECONDS_ALARM = 1, MINUTES = 2, MINUTES_ALARM = 3, HOURS = 4, HOURS_ALARM = 5,
            DAY_OF_MONTH = 7, MONTH = 8, YEAR = 9, RTC_A = 0x0a, RTC_B = 0x0b, RTC_C = 0x0c, CENTURY = 0x32;
    static final int UIP = 0x80, PIE = 0x40, AIE = 0x20, UIE = 0x10, IRQF = 0x80, AF = 0x20, DM_BINARY = 0x04;
    /** ACPICA's ACPI_BITMASK_ALL_FIXED_STATUS: TMR, BM, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE, WAK. */
    static final int ALL_FIXED_STATUS = 0x0001 | 0x0010 | 0x0020 | 0x0100 | 0x0200 | 0x0400 | 0x4000 | 0x8000;
    /** PM1_EN's power and sleep button enables (at their status bits' positions). */
    static final int PWRBTN_EN = 1 << 8, SLPBTN_EN = 1 << 9;
    static final int PM1_STS = AcpiPm.EVT_OFFSET, PM1_EN = AcpiPm.EVT_OFFSET + 2, PM1_CNT = AcpiPm.CNT_OFFSET;

    final RtcAlarmWakeTest.TestClock clock = new RtcAlarmWakeTest.TestClock();
    final CmosRtc rtc;
    final List<Boolean> sci = new CopyOnWriteArrayList<>();
    final AcpiPm pm = new AcpiPm(sci::add, () -> { }, System::nanoTime);
    final GuestMemory ram = new GuestMemory(List.of(new GuestRegion(0, 0, Arena.ofAuto().allocate(1 << 20, 4096))));
    final Lifecycle lifecycle = new Lifecycle();
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<String> failures = new CopyOnWriteArrayList<>();
    final List<WakeEntry> resumedAt = new CopyOnWriteArrayList<>();
    final long facs;

    LinuxRtcCmosS3Test() {
        // Half a second into a second: no update-in-progress window in the way, as most of the time.
        clock.now = Instant.parse("2026-12-06T17:00:00.500Z");
        rtc = new CmosRtc(clock, level -> { }, 256L << 20, 0);
        AcpiTables tables = AcpiTables.builder(1).sleepStates(true, true).build(RSDP);
        ram.write(tables.address(), tables.bytes());
        facs = tables.tableAddresses().get("FACS");
        WakeReset wakeReset = MachineWakeReset.of(new Uart16550(level -> { }, b -> { }), new I8042(level -> { }, level -> { }, () -> { }),
                rtc, pm, List::of);
        GuestSleep sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
            @Override public void parkVcpus() { }
            @Override public WakeEntry wakeEntry() { return WakeEntry.fromRsdp(ram, RSDP); }   // as Machine does
            @Override public void wakeStatus(boolean byRtc) {
                failures.addAll(wakeReset.run());
                pm.wake(byRtc);
            }
            @Override public void resumeAt(WakeEntry entry) { resumedAt.add(entry); }
            @Override public void resetInstead(String why) { failures.add(why); }
        });
        lifecycle.addSink((name, data) -> events.add(name));
        RtcAlarmWake.install(rtc, pm, sleep, failures::add);
        pm.onSleep(type -> {
            try {
                if (type == AcpiPm.SLP_TYP_S3) sleep.suspend();
            } catch (Exception e) {
                failures.add("entering S3 failed: " + e);
            }
        });
        lifecycle.states().transition(RunState.RUNNING);
    }

    @ParameterizedTest(name = "HPET legacy replacement owns IRQ 8: {0}")
    @ValueSource(booleans = {false, true})
    void testSuspendMemIsWokenByTheAlarmItArmed(boolean hpetLegacyRoute) throws Exception {
        // On the VMM's pc machine the HPET is on and Linux routes IRQ 8 through it (HPET_EMULATE_RTC):
        // the RTC's own line is cut off, its alarm must still wake the machine.
        rtc.hpetLegacyRoute(hpetLegacyRoute);
        probe();
        int[] alarm = setAlarm(10);                                   // test_wakealarm: now + TEST_SUSPEND_SECONDS
        assertThat(alarm).containsExactly(0x17, 0x00, 0x10);          // BCD hours, minutes, seconds

        cmosSuspend();
        assertThat(pm.rtcWakeEnabled()).as("rtc_wake_on set RTC_EN").isTrue();
        ram.writeU32(facs + 12, WAKEUP_START);                        // acpi_set_waking_vector
        ram.writeU64(facs + 24, 0);                                   // ... and no 64-bit vector (FACS version >= 1)
        acpiEnterS3();
        assertThat(lifecycle.state()).isEqualTo(RunState.SUSPENDED);
        assertThat(events).containsExactly(GuestSleep.SUSPEND);

        clock.now = clock.now.plusSeconds(9);                         // 17:00:09.5: the alarm has not come
        rtc.poll();                                                   // what the RTC's timer thread does
        assertThat(lifecycle.state()).isEqualTo(RunState.SUSPENDED);
        clock.now = clock.now.plusSeconds(1);                         // 17:00:10.5: it has
        rtc.poll();
        awaitWakeup();

        assertThat(failures).isEmpty();
        assertThat(events).containsExactly(GuestSleep.SUSPEND, GuestSleep.WAKEUP);
        assertThat(resumedAt).as("the boot processor starts at Linux's wakeup_start")
                .containsExactly(new WakeEntry(WakeEntry.Mode.REAL, WAKEUP_START >> 4, WAKEUP_START, 0));
        assertThat(lifecycle.state()).isEqualTo(RunState.RUNNING);

        // Linux from the waking vector on: acpi_suspend_enter, acpi_pm_finish, then the devices' resume.
        assertThat(pm1(PM1_STS) & AcpiPm.WAK_STS).as("WAK_STS").isNotZero();
        pm1(PM1_CNT, pm1(PM1_CNT) | AcpiPm.SCI_EN);                    // "bug compatibility" SCI_EN write
        pm1(PM1_CNT, pm1(PM1_CNT) & ~(AcpiPm.SLP_TYP_MASK | AcpiPm.SLP_EN)); // acpi_hw_legacy_wake_prep: _S0's SLP_TYP 0
        acpiLegacyWake();
        boolean rtcStatus = cmosResume();
        assertThat(rtcStatus).as("cmos_check_acpi_rtc_status: RTC_STS tells rtc-cmos its alarm woke the machine").isTrue();
        assertThat(cmos(RTC_B) & AIE).as("cmos_check_acpi_rtc_status turned the alarm off").isZero();
        assertThat(pm1(PM1_STS) & AcpiPm.WAK_STS).as("WAK_STS cleared by acpi_hw_legacy_wake").isZero();
        // RTC_STS stays until the next rtc_wake_on clears it; with RTC_EN off it raises nothing.
        assertThat(pm1(PM1_EN) & AcpiPm.RTC_EN).isZero();
        assertThat(sci).as("no SCI along the way (RTC_EN and RTC_STS are never set together while running)").doesNotContain(true);
    }

    // --- Linux 6.1, as it accesses the hardware -------------------------------------------------

    /** ACPICA's install of the RTC fixed-event handler, then rtc-cmos' acpi_rtc_event_setup and probe. */
    void probe() {
        acpiClearEvent(AcpiPm.RTC_STS);
        acpiEnableEvent(AcpiPm.RTC_EN);
        acpiClearEvent(AcpiPm.RTC_STS);                               // acpi_rtc_event_setup: off until an alarm is set
        acpiDisableEvent(AcpiPm.RTC_EN);
        cmosIrqDisable(PIE | AIE | UIE);                              // cmos_do_probe
    }

    /** rtc_set_alarm → cmos_set_alarm, {@code seconds} after the RTC's time; returns hours, minutes, seconds written. */
    int[] setAlarm(int seconds) {
        Instant now = readTime();
        Instant at = now.plusSeconds(seconds);
        var t = java.time.LocalDateTime.ofInstant(at, java.time.ZoneOffset.UTC);
        int b = cmos(RTC_B);
        boolean bcd = (b & DM_BINARY) == 0;
        int hrs = bcd ? bcd(t.getHour()) : t.getHour(), min = bcd ? bcd(t.getMinute()) : t.getMinute(),
                sec = bcd ? bcd(t.getSecond()) : t.getSecond();
        cmosIrqDisable(AIE);                                          // the next irq must not be the old alarm's
        avoidUip(() -> {                                              // mc146818_avoid_UIP(cmos_set_alarm_callback)
            cmos(HOURS_ALARM, hrs);
            cmos(MINUTES_ALARM, min);
            cmos(SECONDS_ALARM, sec);                                 // FADT DAY_ALRM/MON_ALRM are 0: no day/month alarm
            cmosIrqEnable(AIE);
        });
        return new int[] {cmos(HOURS_ALARM), cmos(MINUTES_ALARM), cmos(SECONDS_ALARM)};
    }

    /** cmos_suspend for a device that may wake the system with its alarm armed. */
    void cmosSuspend() {
        int tmp = cmos(RTC_B);
        assertThat(tmp & AIE).isNotZero();
        tmp &= ~(PIE | UIE);                                          // mask = RTC_IRQMASK & ~RTC_AIE
        cmos(RTC_B, tmp);
        cmos(RTC_C);                                                  // cmos_checkintr
        acpiClearEvent(AcpiPm.RTC_STS);                               // rtc_wake_on
        acpiEnableEvent(AcpiPm.RTC_EN);
        cmos(SECONDS_ALARM); cmos(MINUTES_ALARM); cmos(HOURS_ALARM); cmos(RTC_B); // cmos_read_alarm (saved_wkalrm)
    }

    /** acpi_hw_legacy_sleep(ACPI_STATE_S3): the SLP_EN write is where the machine stops. */
    void acpiEnterS3() {
        pm1(PM1_STS, AcpiPm.WAK_STS);                                 // clear wake status
        pm1(PM1_STS, ALL_FIXED_STATUS);                               // acpi_hw_clear_acpi_status
        int cnt = pm1(PM1_CNT) & ~(AcpiPm.SLP_TYP_MASK | AcpiPm.SLP_EN);
        cnt |= AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT;            // _S3's SLP_TYPa
        pm1(PM1_CNT, cnt);                                            // write #1: SLP_TYP
        pm1(PM1_CNT, cnt | AcpiPm.SLP_EN);                            // write #2: SLP_TYP + SLP_EN
    }

    /** acpi_hw_legacy_wake's fixed-hardware part. */
    void acpiLegacyWake() {
        pm1(PM1_STS, AcpiPm.WAK_STS);
        pm1(PM1_EN, pm1(PM1_EN) | PWRBTN_EN);
        pm1(PM1_STS, AcpiPm.PWRBTN_STS);
        pm1(PM1_EN, pm1(PM1_EN) | SLPBTN_EN);
        pm1(PM1_STS, AcpiPm.SLPBTN_STS);
    }

    /**
     * cmos_resume after a wake that rtc_wake_on armed: rtc_wake_off, cmos_check_wkalrm (re-arms the
     * saved alarm when the hardware lost it), the saved control written back, then
     * cmos_check_acpi_rtc_status. Returns whether RTC_STS was set there.
     */
    boolean cmosResume() {
        acpiDisableEvent(AcpiPm.RTC_EN);                              // rtc_wake_off
        readTime();                                                   // cmos_check_wkalrm
        boolean enabled = (cmos(RTC_B) & AIE) != 0;
        if (!enabled) {                                               // the alarm's enable differs from the saved one
            cmosIrqDisable(AIE);
            avoidUip(() -> cmosIrqEnable(AIE));
        }
        int tmp = cmos(RTC_B) | AIE;
        cmos(RTC_B, tmp);
        int mask = cmos(RTC_C) & (AIE | IRQF);
        assertThat(mask & IRQF).as("the wake's RTC reset dropped the flags; nothing pending").isZero();
        boolean status = acpiEventStatusSet(AcpiPm.RTC_STS);
        if (status) {
            cmos(RTC_B, tmp & ~AIE);
            cmos(RTC_C);                                              // rtc_update_irq with these flags
        }
        return status;
    }

    // --- drivers/rtc/rtc-cmos.c and rtc-mc146818-lib.c helpers ----------------------------------

    void cmosIrqDisable(int mask) {
        int b = cmos(RTC_B) & ~mask;
        cmos(RTC_B, b);
        cmos(RTC_C);
    }

    void cmosIrqEnable(int mask) {
        int b = cmos(RTC_B);
        cmos(RTC_C);
        cmos(RTC_B, b | mask);
        cmos(RTC_C);
    }

    /** The callback between two reads of status A and the seconds that show no update happened meanwhile. */
    void avoidUip(Runnable callback) {
        for (int i = 0; i < 10; i++) {
            if ((cmos(RTC_A) & UIP) != 0) continue;
            int sec = cmos(SECONDS);
            callback.run();
            if ((cmos(RTC_A) & UIP) != 0 || cmos(SECONDS) != sec) continue;
            return;
        }
        throw new AssertionError("the update-in-progress guard never passed");
    }

    /** mc146818_get_time (BCD, 24-hour, century from the FADT's CENTURY index). */
    Instant readTime() {
        int[] v = new int[7];
        avoidUip(() -> {
            int[] regs = {SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, YEAR, CENTURY};
            for (int i = 0; i < regs.length; i++) v[i] = cmos(regs[i]);
        });
        boolean bcd = (cmos(RTC_B) & DM_BINARY) == 0;
        int[] d = new int[7];
        for (int i = 0; i < 7; i++) d[i] = bcd ? (v[i] >> 4) * 10 + (v[i] & 0xf) : v[i];
        return java.time.LocalDateTime.of(d[6] * 100 + d[5], d[4], d[3], d[2], d[1], d[0]).toInstant(java.time.ZoneOffset.UTC);
    }

    static int bcd(int v) {
        return (v / 10) << 4 | v % 10;
    }

    int cmos(int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    void cmos(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    // --- ACPICA's fixed-event and bit-register accesses (16-bit PM1 registers) --------------------

    int pm1(int offset) {
        return (int) pm.read(offset, 2);
    }

    void pm1(int offset, int value) {
        pm.write(offset, 2, value & 0xffff);
    }

    /** Status bits are write-1-to-clear: only the bit is written. */
    void acpiClearEvent(int statusBit) {
        pm1(PM1_STS, statusBit);
    }

    /** Read-modify-write of PM1_EN, then read back ("Could not enable %s event" otherwise). */
    void acpiEnableEvent(int enableBit) {
        pm1(PM1_EN, pm1(PM1_EN) | enableBit);
        assertThat(pm1(PM1_EN) & enableBit).as("the enable bit reads back set").isNotZero();
    }

    void acpiDisableEvent(int enableBit) {
        pm1(PM1_EN, pm1(PM1_EN) & ~enableBit);
        assertThat(pm1(PM1_EN) & enableBit).as("the enable bit reads back clear").isZero();
    }

    /** acpi_get_event_status: ACPI_EVENT_FLAG_STATUS_SET. */
    boolean acpiEventStatusSet(int statusBit) {
        return (pm1(PM1_STS) & statusBit) != 0;
    }

    void awaitWakeup() {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!events.contains(GuestSleep.WAKEUP) && System.nanoTime() - end < 0) Thread.onSpinWait();
        assertThat(events).as("WAKEUP within 10 s of the alarm (the wake runs on its own thread)").contains(GuestSleep.WAKEUP);
    }
}
