package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16 test 2: {@code system_powerdown} on the smoke kernel with ACPI → the ACPI fixed power
 * button → Linux's button driver reports KEY_POWER on its evdev device ("Power Button") → the
 * guest-test init, which reads that device, powers off → S5 → SHUTDOWN with {@code guest: true,
 * reason: guest-shutdown}, POWERDOWN before it, status 0. (The kernel alone does nothing on the
 * button: some user space must listen; here the cheapest, a read loop in the busybox init.)
 * QEMU (TCG) is the reference half; the VMM half needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelPowerdownTest {

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        try (SmokeGuest g = SmokeGuest.qemu(dir, "pc", "1", SmokeGuest.initramfs(dir), cmdline(), List.of())) {
            pressAndShutDown(g);
        }
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        SmokeGuest.needVmmGuestUserSpace();
        try (SmokeGuest g = SmokeGuest.vmm(dir, SmokeGuest.initramfs(dir), cmdline(), List.of())) {
            pressAndShutDown(g);
        }
    }

    private static String cmdline() {
        return SmokeGuest.cmdline("power", "panic=-1");
    }

    private static void pressAndShutDown(SmokeGuest g) throws Exception {
        g.expect(SmokeGuest.BOOT_BUDGET, SmokeKernel.LINUX_VERSION, SmokeGuest.said("init listens", "power button: waiting on /dev/input/event\\d+"));
        g.ok("system_powerdown", null);
        g.expect(SmokeGuest.STEP_BUDGET, SmokeGuest.said("button seen", "power button pressed"),
                SmokeGuest.said("init ends", "done, powering off"));
        assertThat(g.event("POWERDOWN")).isNotNull();
        JsonNode shutdown = g.event("SHUTDOWN").get("data");
        assertThat(shutdown.get("guest").asBoolean()).as("%s", shutdown).isTrue();
        assertThat(shutdown.get("reason").asText()).isEqualTo("guest-shutdown");
        assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as(g.tail()).isZero();
    }
}
