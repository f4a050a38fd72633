package dev.vmm.control;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.power.GuestSleep;
import dev.vmm.power.PowerCommands;
import dev.vmm.power.RtcAlarmWake;
import dev.vmm.power.WakeEntry;
import dev.vmm.timer.RtcTimer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The RTC alarm waking S3, against QEMU 7.2 run at test time: QEMU's PIIX4 PM and mc146818rtc
 * driven through qtest (firmware of HLTs, vCPUs running), ours through AcpiPm + CmosRtc with its
 * timer thread + RtcAlarmWake + GuestSleep + QMP. The same guest steps on both: alarm two seconds
 * ahead with AIE, then S3 — first without RTC_EN (the guest must stay suspended past the alarm),
 * then with RTC_EN (WAKEUP by itself, running). Logged and compared: events, query-status, PM1_STS's
 * WAK_STS/RTC_STS and PM1_EN's RTC_EN after the wake, status B after the wake.
 *
 * <p>This QEMU has no {@code clock_step} (no qtest accelerator): both RTCs follow the host clock and
 * the test waits real time (3.5 s past an alarm two seconds ahead cannot be ambiguous).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RtcAlarmWakeQemuOracleTest {
    private static final int S3_SLP_EN = AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT | AcpiPm.SLP_EN;

    @TempDir
    Path dir;

    /** What the steps need of a machine. */
    interface Side {
        int rtc(int index);

        void rtc(int index, int value);

        /** PM register access at offset {@code off} of the PM block (16 bits). */
        int pm(int off);

        void pm(int off, int value);

        /** The guest writes SLP_TYP=S3|SLP_EN; returns once SUSPEND was seen. */
        void enterS3() throws IOException;

        SleepStatesQemuOracleTest.Client qmp();

        /** After a wake: whatever the firmware would redo for the PM block to be reachable. */
        void afterWake() throws IOException;
    }

    static void waitMillis(long ms) {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
        for (long left; (left = end - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
    }

    static int bcd(int v) {
        return (v / 10) << 4 | v % 10;
    }

    static int unbcd(int r) {
        return (r >> 4) * 10 + (r & 0xf);
    }

    /** The guest arms the alarm two seconds ahead (BCD, 24 h), with AIE. */
    static void armAlarm(Side s) {
        s.rtc(0x0b, 0x02);
        java.time.LocalTime t;
        while (true) {
            int sec = s.rtc(0x00), min = s.rtc(0x02), hour = s.rtc(0x04);
            if (s.rtc(0x00) != sec) continue;
            t = java.time.LocalTime.of(unbcd(hour), unbcd(min), unbcd(sec)).plusSeconds(2);
            break;
        }
        s.rtc(0x01, bcd(t.getSecond()));
        s.rtc(0x03, bcd(t.getMinute()));
        s.rtc(0x05, bcd(t.getHour()));
        s.rtc(0x0b, 0x22);
        s.rtc(0x0c);
    }

    static List<String> steps(Side s) throws Exception {
        List<String> log = new ArrayList<>();
        SleepStatesQemuOracleTest.Client q = s.qmp();
        armAlarm(s);
        s.enterS3();
        waitMillis(3500);
        log.add("no RTC_EN, past the alarm: " + q.execute("query-status").at("/return/status").asText() + " events=" + q.events);
        q.execute("system_wakeup");
        q.awaitEvent(GuestSleep.WAKEUP);
        s.afterWake();
        log.add("system_wakeup: events=" + q.events + " PM1_STS&(WAK|RTC)=" + Integer.toHexString(s.pm(0) & 0x8400));
        q.events.clear();
        s.pm(0, 0xffff);                                           // the OS clears the status bits

        s.pm(2, AcpiPm.RTC_EN);
        armAlarm(s);
        s.enterS3();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(8);
        while (!q.events.contains(GuestSleep.WAKEUP) && System.nanoTime() - end < 0) {
            waitMillis(100);
            q.execute("query-status");
        }
        s.afterWake();
        log.add("RTC_EN, alarm: events=" + q.events + " status=" + q.execute("query-status").at("/return/status").asText());
        log.add("  PM1_STS&(WAK|RTC)=" + Integer.toHexString(s.pm(0) & 0x8400) + " PM1_EN&RTC_EN=" + Integer.toHexString(s.pm(2) & AcpiPm.RTC_EN));
        log.add("  RTC status B=" + Integer.toHexString(s.rtc(0x0b)));
        return log;
    }

    /** QEMU under qtest, PIIX4 PM at 0x600 as firmware would place it. */
    static final class Qemu implements Side {
        final QemuQtest qtest;
        final SleepStatesQemuOracleTest.Client client;

        Qemu(QemuQtest qtest, Path sock) throws Exception {
            this.qtest = qtest;
            client = new SleepStatesQemuOracleTest.Client(sock);
            client.execute("cont");
            afterWake();
            client.events.clear();
        }

        int in(int port, int size) {
            return (int) qtest.in(port, size);
        }

        void out(int port, int size, int value) {
            qtest.out(port, size, value & 0xFFFF_FFFFL);
        }

        @Override public int rtc(int index) {
            out(0x70, 1, index);
            return in(0x71, 1);
        }

        @Override public void rtc(int index, int value) {
            out(0x70, 1, index);
            out(0x71, 1, value);
        }

        @Override public int pm(int off) {
            return in(0x600 + off, 2);
        }

        @Override public void pm(int off, int value) {
            out(0x600 + off, 2, value);
        }

        @Override public void enterS3() throws IOException {
            // QEMU maps the PM block lazily: write until it suspends.
            for (int i = 0; i < 20 && !client.events.contains(GuestSleep.SUSPEND); i++) {
                pm(AcpiPm.CNT_OFFSET, S3_SLP_EN);
                client.awaitEvent(GuestSleep.SUSPEND);
            }
        }

        @Override public SleepStatesQemuOracleTest.Client qmp() {
            return client;
        }

        /** PMBA 0x600 and PM I/O enable in 00:01.3's config space (a device reset clears them). */
        @Override public void afterWake() {
            out(0xcf8, 4, 0x8000_0000 | 1 << 11 | 3 << 8 | 0x40);
            out(0xcfc, 4, 0x601);
            out(0xcf8, 4, 0x8000_0000 | 1 << 11 | 3 << 8 | 0x80);
            out(0xcfc, 1, 1);
        }
    }

    /** Ours: the devices and the QMP server, no KVM (parking and resuming vCPUs are no-ops). */
    static final class Ours implements Side {
        final CmosRtc rtc = new CmosRtc(Clock.systemUTC(), level -> { }, 128L << 20, 0);
        final AcpiPm pm = new AcpiPm(level -> { }, () -> { }, System::nanoTime);
        final Lifecycle lifecycle = new Lifecycle();
        final GuestSleep sleep;
        final RtcTimer timer;
        final QmpServer server;
        final SleepStatesQemuOracleTest.Client client;
        final dev.vmm.power.WakeReset wakeReset;

        Ours(Path sock) throws Exception {
            this(sock, List.of());
        }

        /** With {@code others} in the wake reset too (DeviceWakeResetQemuOracleTest: HPET, xHCI, AHCI). */
        Ours(Path sock, List<dev.vmm.power.WakeResettable> others) throws Exception {
            // The machine's wake reset, over these devices (no virtio here).
            wakeReset = dev.vmm.power.MachineWakeReset.of(new dev.vmm.chipset.legacy.Uart16550(level -> { }, b -> { }),
                    new dev.vmm.chipset.legacy.I8042(level -> { }, level -> { }, () -> { }), rtc, pm, List::of, () -> others);
            sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
                @Override public void parkVcpus() { }
                @Override public WakeEntry wakeEntry() { return WakeEntry.decode(0x9A000, 0, 2); }
                @Override public void wakeStatus(boolean byRtc) {
                    assertThat(wakeReset.run()).isEmpty();
                    pm.wake(byRtc);
                }
                @Override public void resumeAt(WakeEntry entry) { }
                @Override public void resetInstead(String why) { throw new AssertionError(why); }
            });
            pm.onSleep(type -> {
                try {
                    sleep.suspend();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            timer = new RtcTimer(rtc);
            RtcAlarmWake.install(rtc, pm, sleep, why -> { throw new AssertionError(why); });
            server = new QmpServer(sock, "test");
            server.register("query-status", a -> MachineCommands.status(lifecycle.state()));
            PowerCommands.install(server, sleep);
            lifecycle.addSink(server::event);
            server.start();
            lifecycle.states().transition(RunState.RUNNING);
            client = new SleepStatesQemuOracleTest.Client(server.path());
        }

        @Override public int rtc(int index) {
            rtc.write(0, 1, index);
            return (int) rtc.read(1, 1);
        }

        @Override public void rtc(int index, int value) {
            rtc.write(0, 1, index);
            rtc.write(1, 1, value);
        }

        @Override public int pm(int off) {
            return (int) pm.read(off, 2);
        }

        @Override public void pm(int off, int value) {
            pm.write(off, 2, value);
        }

        @Override public void enterS3() throws IOException {
            pm(AcpiPm.CNT_OFFSET, S3_SLP_EN);
            client.awaitEvent(GuestSleep.SUSPEND);
        }

        @Override public SleepStatesQemuOracleTest.Client qmp() {
            return client;
        }

        @Override public void afterWake() { }

        void close() throws IOException {
            client.close();
            server.close();
            timer.close();
        }
    }

    @Test
    void alarmWakesLikeQemus() throws Exception {
        Path qemuSock = dir.resolve("qemu.sock");
        List<String> qemuLog;
        try (QemuQtest qtest = QemuQtest.start("-machine", "pc", "-bios", QemuQtest.haltingBios(dir).toString(),
                "-qmp", "unix:" + qemuSock + ",server=on,wait=off")) {
            Qemu q = new Qemu(qtest, qemuSock);
            qemuLog = steps(q);
            q.client.close();
        }
        Ours o = new Ours(dir.resolve("ours.sock"));
        List<String> ourLog;
        try {
            ourLog = steps(o);
        } finally {
            o.close();
        }
        assertThat(String.join("\n", ourLog)).isEqualTo(String.join("\n", qemuLog));
        assertThat(qemuLog.get(2)).as("the alarm woke QEMU's guest").contains("WAKEUP").contains("running");
    }
}
