package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15 test 1 on the smoke kernel with ACPI (CONFIG_ACPI_HOTPLUG_CPU) and the guest-test
 * init: one CPU of a possible three; {@code device_add} of two CPUs with the type and props
 * {@code query-hotpluggable-cpus} offers → the kernel's ACPI processor driver adds them, the
 * init onlines them ("smpboot: Booting Node 0 Processor N"), and {@code query-cpus-fast} lists
 * three host thread ids that are threads of the process. QEMU (TCG) is the reference half;
 * the VMM half needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelCpuHotplugTest {

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        Path initrd = SmokeGuest.initramfs(dir);
        try (SmokeGuest g = SmokeGuest.qemu(dir, "pc", "1,maxcpus=3", initrd,
                SmokeGuest.cmdline("cpuhp", "smokecpus=3", "panic=-1"), List.of())) {
            addTwoCpusAndSeeThemOnline(g);
        }
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        SmokeGuest.needVmmGuestUserSpace();
        Path initrd = SmokeGuest.initramfs(dir);
        try (SmokeGuest g = SmokeGuest.vmm(dir, initrd, SmokeGuest.cmdline("cpuhp", "smokecpus=3", "panic=-1"),
                List.of("--cpus", "1,maxcpus=3"))) {
            addTwoCpusAndSeeThemOnline(g);
        }
    }

    private static void addTwoCpusAndSeeThemOnline(SmokeGuest g) throws Exception {
        g.expect(SmokeGuest.BOOT_BUDGET, SmokeKernel.LINUX_VERSION, SmokeGuest.said("init waits", "cpu hot-plug: waiting for 3 cpus"));
        JsonNode slots = g.ok("query-hotpluggable-cpus", null);
        assertThat(slots).hasSize(3);
        List<JsonNode> free = new java.util.ArrayList<>();
        slots.forEach(free::add);
        // QEMU lists the free slots highest first; add them in topology order so that Linux's CPU 1 is core 1.
        free.sort(java.util.Comparator.comparingInt((JsonNode s) -> s.path("props").path("socket-id").asInt())
                .thenComparingInt(s -> s.path("props").path("core-id").asInt())
                .thenComparingInt(s -> s.path("props").path("thread-id").asInt()));
        int added = 0;
        for (JsonNode slot : free) {
            if (slot.has("qom-path")) continue; // present already (CPU 0)
            JsonNode props = slot.get("props");
            g.ok("device_add", "{\"driver\": \"" + slot.get("type").asText() + "\", \"id\": \"hp-cpu" + added + "\""
                    + ", \"socket-id\": " + props.path("socket-id").asInt() + ", \"core-id\": " + props.path("core-id").asInt()
                    + ", \"thread-id\": " + props.path("thread-id").asInt() + "}");
            added++;
        }
        assertThat(added).as("free CPU slots in %s", slots).isEqualTo(2);
        g.expect(SmokeGuest.STEP_BUDGET,
                SmokeGuest.said("CPU 1 onlined by init", "cpu1 online"),
                SmokeGuest.said("CPU 2 onlined by init", "cpu2 online"),
                SmokeGuest.said("three online", "cpus online: 3"),
                SmokeGuest.said("init waits for the power button", "power button: waiting"));
        // The kernel's own lines (printed whatever the console log level: KERN_INFO).
        g.expect(SmokeGuest.STEP_BUDGET,
                ConsoleWatcher.Milestone.of("CPU 1 booted", "smpboot: Booting Node 0 Processor 1 APIC 0x[0-9a-f]+"),
                ConsoleWatcher.Milestone.of("CPU 2 booted", "smpboot: Booting Node 0 Processor 2 APIC 0x[0-9a-f]+"));
        JsonNode fast = g.ok("query-cpus-fast", null);
        assertThat(fast).hasSize(3);
        for (JsonNode cpu : fast) {
            assertThat(Files.isDirectory(Path.of("/proc/" + g.process().pid() + "/task/" + cpu.get("thread-id").asLong())))
                    .as("thread-id of %s is a thread of the process", cpu).isTrue();
        }
        g.ok("system_powerdown", null);
        g.expect(SmokeGuest.STEP_BUDGET, SmokeGuest.said("init ends", "done, powering off"));
        assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as(g.tail()).isZero();
    }
}
