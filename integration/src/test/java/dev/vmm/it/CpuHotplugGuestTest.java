package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 15 test 1 on the smoke kernel (ACPI, CONFIG_ACPI_HOTPLUG_CPU): {@code --cpus 1,maxcpus=3},
 * the kernel waits for a root device that never comes; {@code device_add} of two CPUs with the
 * type and props {@code query-hotpluggable-cpus} lists → the guest's ACPI processor driver logs
 * each one hot-added; {@code query-cpus-fast} lists three CPUs whose thread ids are threads of the
 * VMM process ({@code /proc/PID/task}). Needs /dev/kvm (not run where issue 15 was written).
 */
@Tag("smoke-kernel")
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class CpuHotplugGuestTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void twoCpusAddedAtRunTimeComeOnline(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("qmp.sock");
        List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", SmokeKernel.vmlinux().toString(),
                "--memory", "256M", "--cpus", "1,maxcpus=3", "--qmp", "unix:" + sock,
                "--cmdline", SmokeKernel.defaultCmdline("root=/dev/vdb rootwait"));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            ConsoleWatcher.Result r = console.await(BOOT_BUDGET, ConsoleWatcher.Milestone.of("rootwait", "Waiting for root device"));
            assertThat(r.allSeen()).as("the kernel waits for its root:\n%s", r.describe(40)).isTrue();
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                JsonNode slots = c.execute("query-hotpluggable-cpus").get("return");
                assertThat(slots).hasSize(3);
                String type = slots.get(0).get("type").asText();
                for (int core = 1; core <= 2; core++) {
                    JsonNode add = c.execute("device_add", "{\"driver\": \"" + type + "\", \"id\": \"cpu" + core
                            + "\", \"socket-id\": 0, \"core-id\": " + core + ", \"thread-id\": 0}");
                    assertThat(add.has("return")).as("device_add: %s", add).isTrue();
                }
                r = console.await(Duration.ofMinutes(2), ConsoleWatcher.Milestone.of("cpu1", "CPU1 has been hot-added"),
                        ConsoleWatcher.Milestone.of("cpu2", "CPU2 has been hot-added"));
                assertThat(r.allSeen()).as("the guest sees both CPUs:\n%s", r.describe(40)).isTrue();
                JsonNode fast = c.execute("query-cpus-fast").get("return");
                assertThat(fast).hasSize(3);
                for (JsonNode cpu : fast) {
                    assertThat(Files.isDirectory(Path.of("/proc/" + p.pid() + "/task/" + cpu.get("thread-id").asInt())))
                            .as("thread of %s", cpu).isTrue();
                }
                JsonNode again = c.execute("device_add", "{\"driver\": \"" + type + "\", \"id\": \"cpu9\", \"socket-id\": 0, \"core-id\": 2, \"thread-id\": 0}");
                assertThat(again.at("/error/class").asText()).as("maxcpus reached").isEqualTo("GenericError");
                c.execute("quit");
            }
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
    }
}
