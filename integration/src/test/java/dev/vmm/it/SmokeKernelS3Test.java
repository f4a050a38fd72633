package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmm.it.ConsoleWatcher.Milestone;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 16 test 3: the S3 round trip of the smoke kernel (SUSPEND, PM_TEST_SUSPEND, RTC_DRV_CMOS in
 * its config-fragment), with ACPI on, two ways:
 * <ul>
 * <li>{@code test_suspend=mem}: at late init the kernel arms the CMOS RTC alarm 10 s ahead (alarm
 *     registers + AIE, and RTC_EN in PM1_EN through rtc-cmos' ACPI wake hook) and enters S3 by itself;
 *     the alarm wakes the machine (RTC_STS), Linux resumes at the FACS waking vector, logs
 *     {@code PM: suspend exit} and boots on to its usual end. No user space: this runs on a PVM host too
 *     (the end there is the "Attempted to kill init!" panic, as in every smoke boot).</li>
 * <li>S3 entered by the busybox init ({@code smoketest=suspend}: {@code echo mem > /sys/power/state}),
 *     {@code query-status} "suspended" meanwhile, woken by QMP {@code system_wakeup}; the init then says
 *     it resumed and powers off. Needs guest user mode: a host-kind skip on PVM.</li>
 * </ul>
 * Both start paused ({@code -S}, then {@code cont}) so no QMP event is missed, and both check the same
 * kernel milestones and the same power-event order: SUSPEND then WAKEUP, once each. QEMU 7.2
 * ({@code -M pc}, TCG, SeaBIOS resumes the guest) is the reference half; the VMM half (direct kernel
 * boot: the VMM itself starts the boot processor at the waking vector) needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelS3Test {
    private static final ObjectMapper JSON = new ObjectMapper();

    // Linux 6.1's own lines (kernel/power/suspend_test.c, kernel/power/suspend.c, drivers/acpi/sleep.c).
    static final Milestone RTC_BOUND = Milestone.of("rtc-cmos bound (rtc0)", "rtc_cmos \\S+: registered as rtc0");
    static final Milestone ALARM_TEST = Milestone.of("test_suspend arms the RTC alarm", "PM: test RTC wakeup from 'mem' suspend");
    static final Milestone SUSPEND_ENTRY = Milestone.of("suspend entry (S3 = deep)", "PM: suspend entry \\(deep\\)");
    static final Milestone ENTER_S3 = Milestone.of("ACPI enters S3", "ACPI: PM: Preparing to enter system sleep state S3");
    /** Printed by the code after the waking vector: proves the machine really slept and resumed there. */
    static final Milestone LOW_LEVEL_RESUME = Milestone.of("resumed at the waking vector", "ACPI: PM: Low-level resume complete");
    static final Milestone WAKING_FROM_S3 = Milestone.of("ACPI leaves S3", "ACPI: PM: Waking up from system sleep state S3");
    static final Milestone SUSPEND_EXIT = Milestone.of("PM: suspend exit", "PM: suspend exit");
    /** What test_suspend prints when it could not do its round trip (the milestones above do not all say so). */
    static final List<String> ALARM_TEST_FAILURES = List.of("PM: suspend test failed", "PM: can't set", "PM: can't read",
            "PM: no wakealarm-capable RTC", "PM: can't test");

    // --- test_suspend=mem: the kernel's own round trip, woken by the CMOS RTC alarm ---------------

    @Test
    void rtcAlarmRoundTripQemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        try (SmokeGuest g = qemu(dir, SmokeKernel.makeInitramfs(dir), alarmCmdline())) {
            alarmRoundTrip(g, true);                                  // TCG runs guest user mode on any host
        }
    }

    @Test
    void rtcAlarmRoundTripVmm(@TempDir Path dir) throws Exception {
        assumeTrue(Vmm.kvmUsable(), "/dev/kvm is not usable on this host");
        try (SmokeGuest g = SmokeGuest.vmm(dir, SmokeKernel.makeInitramfs(dir), alarmCmdline(), List.of("-S"))) {
            alarmRoundTrip(g, !SmokeKernel.hostNeedsPvmWorkarounds());
        }
    }

    /**
     * ACPI on (rtc-cmos makes itself wakeup-capable only with ACPI, and S3 is ACPI's), the PVM CPU
     * workarounds where the host needs them, reboot at once on panic (the PVM end of boot).
     */
    static String alarmCmdline() {
        StringBuilder s = new StringBuilder("console=ttyS0 panic=-1 test_suspend=mem");
        if (SmokeKernel.hostNeedsPvmWorkarounds()) s.append(' ').append(SmokeKernel.PVM_CLEARCPUID);
        return s.toString();
    }

    /** {@code initRuns}: false under the vmm on a PVM host, where init's first system call faults (panic). */
    private static void alarmRoundTrip(SmokeGuest g, boolean initRuns) throws Exception {
        g.qmp();
        g.ok("cont", null);
        List<Milestone> m = new ArrayList<>(List.of(SmokeKernel.LINUX_VERSION, RTC_BOUND, ALARM_TEST, SUSPEND_ENTRY, ENTER_S3,
                LOW_LEVEL_RESUME, WAKING_FROM_S3, SUSPEND_EXIT, SmokeKernel.RUN_INIT));
        // The smoke initramfs's init prints its marker and reboots, or cannot run at all (panic).
        m.addAll(initRuns ? List.of(SmokeKernel.INIT_RAN, SmokeKernel.REBOOT) : List.of(SmokeKernel.PANIC));
        ConsoleWatcher.Result r = g.expect(SmokeGuest.BOOT_BUDGET, m.toArray(Milestone[]::new));
        System.out.println("S3 by test_suspend=mem:\n" + r.describe(0));
        List<String> console = r.transcript().stream().map(ConsoleWatcher.Line::text).toList();
        for (String failure : ALARM_TEST_FAILURES)
            assertThat(console).as("test_suspend's own verdict").noneMatch(l -> l.contains(failure));
        assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as("the reboot (or panic=-1 reset) ends the run: %s", g.tail()).isZero();
        assertThat(powerEvents(g)).as("nobody sent system_wakeup: the RTC alarm woke the guest").containsExactly("SUSPEND", "WAKEUP");
    }

    // --- echo mem > /sys/power/state, woken by QMP system_wakeup ----------------------------------

    @Test
    void systemWakeupRoundTripQemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        try (SmokeGuest g = qemu(dir, SmokeGuest.initramfs(dir), wakeupCmdline())) {
            systemWakeupRoundTrip(g);
        }
    }

    @Test
    void systemWakeupRoundTripVmm(@TempDir Path dir) throws Exception {
        SmokeGuest.needVmmGuestUserSpace();
        try (SmokeGuest g = SmokeGuest.vmm(dir, SmokeGuest.initramfs(dir), wakeupCmdline(), List.of("-S"))) {
            systemWakeupRoundTrip(g);
        }
    }

    static String wakeupCmdline() {
        return SmokeGuest.cmdline("suspend", "panic=-1");
    }

    private static void systemWakeupRoundTrip(SmokeGuest g) throws Exception {
        g.qmp();
        g.ok("cont", null);
        g.expect(SmokeGuest.BOOT_BUDGET, SmokeKernel.LINUX_VERSION, SmokeGuest.said("init runs the test", "test suspend"),
                SmokeGuest.said("init suspends", "suspending to ram"));
        String[] status = {""};
        Waits.waitFor(() -> (status[0] = g.ok("query-status", null).path("status").asText()).equals("suspended")
                || !g.process().isAlive(), (int) SmokeGuest.STEP_BUDGET.toSeconds(), "query-status \"suspended\"");
        assertThat(status[0]).as("query-status while the guest sleeps; console:\n%s", g.tail()).isEqualTo("suspended");
        assertThat(g.event("SUSPEND")).isNotNull();
        g.ok("system_wakeup", null);
        // The kernel's lines, then init's: its line after the sysfs write can only come after the resume.
        ConsoleWatcher.Result r = g.expect(SmokeGuest.STEP_BUDGET, SmokeKernel.LINUX_VERSION, SUSPEND_ENTRY, ENTER_S3, LOW_LEVEL_RESUME,
                WAKING_FROM_S3, SUSPEND_EXIT, SmokeGuest.said("init resumed", "resumed from suspend"),
                SmokeGuest.said("init ends", "done, powering off"));
        System.out.println("S3 by echo mem > /sys/power/state, system_wakeup:\n" + r.describe(0));
        assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as(g.tail()).isZero();
        assertThat(powerEvents(g)).containsExactly("SUSPEND", "WAKEUP");
        JsonNode shutdown = g.event("SHUTDOWN").get("data");
        assertThat(shutdown.get("reason").asText()).as("%s", shutdown).isEqualTo("guest-shutdown");
    }

    /**
     * QEMU 7.2 {@code -M pc}, TCG, paused, booting the smoke kernel's <b>bzImage</b> (the same build
     * as the vmm half's vmlinux). Not the PVH vmlinux: QEMU loads an ELF {@code -kernel} as ROM blobs
     * and copies them into RAM again at every system reset, and its S3 wake is one (pc_machine_wakeup):
     * the running kernel's text and data would be overwritten by the pristine image under it (seen:
     * the guest died right after the wake and QEMU exited). The bzImage goes through fw_cfg and the
     * linuxboot option ROM into RAM once, so the wake keeps the kernel as Linux left it.
     */
    static SmokeGuest qemu(Path dir, Path initrd, String cmdline) throws Exception {
        List<String> cmd = new ArrayList<>(SmokeGuest.qemuCommand(dir, "pc", "1", initrd, cmdline, List.of("-S")));
        cmd.set(cmd.indexOf(SmokeKernel.vmlinux().toString()), SmokeKernel.bzImage().toString());
        return SmokeGuest.start(cmd, SmokeGuest.qmpSocket(dir, "qemu"));
    }

    // --- QMP -------------------------------------------------------------------------------------

    /**
     * SUSPEND and WAKEUP in the order they came, from every event the QMP connection carried until
     * the process closed it (read to the end: the process has exited).
     */
    private static List<String> powerEvents(SmokeGuest g) throws Exception {
        QmpTest.Client c = g.qmp();
        try {
            String line;
            while ((line = c.in.readLine()) != null) {
                JsonNode n = JSON.readTree(line);
                if (n.has("event")) c.events.add(n);
            }
        } catch (IOException reset) {
            // the process is gone; what was read is kept
        }
        System.out.println("QMP events: " + c.events.stream().map(e -> e.path("event").asText()).toList());
        return c.events.stream().map(e -> e.path("event").asText()).filter(n -> n.equals("SUSPEND") || n.equals("WAKEUP")).toList();
    }
}
