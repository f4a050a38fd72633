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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The smoke kernel migrated in the middle of its boot: one vCPU, ext2 root on virtio-blk (MSI-X
 * interrupts, a driver with requests in flight). The migration starts as soon as the virtio-blk
 * probe line is on the source's console — the device is live, the partition scan and root mount
 * I/O follow — and the destination (same command line, -incoming) must carry the boot on through
 * the root mount and init to the end, with every milestone of the whole boot seen once, in order,
 * on the two consoles together.
 */
@Tag("smoke-kernel")
@Timeout(value = 40, unit = TimeUnit.MINUTES) // two boot budgets of 15 min (source, destination) plus the migration
class SmokeKernelMigrationTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void bootMigratedRightAfterTheVirtioBlkProbeFinishesOnTheDestination(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        Path qmp = tmp.resolve("src.qmp"), mig = tmp.resolve("mig.sock");
        List<String> machine = List.of("--memory", "256M", "--cpus", "1", "--disk", "path=" + root + ",serial=smoke-root");
        List<String> dstCmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--incoming", "unix:" + mig));
        dstCmd.addAll(machine);
        long t0 = System.nanoTime();
        Process dst = new ProcessBuilder(dstCmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        Process src = null;
        try (ConsoleWatcher dstConsole = ConsoleWatcher.watch(dst.getInputStream(), t0, null)) {
            for (int i = 0; i < 600 && !Files.exists(mig); i++) Thread.sleep(50);
            List<String> srcCmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                    "--cmdline", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA), "--qmp", "unix:" + qmp));
            srcCmd.addAll(machine);
            src = new ProcessBuilder(srcCmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            try (ConsoleWatcher srcConsole = ConsoleWatcher.watch(src.getInputStream(), t0, null)) {
                // Right after the virtio-blk probe: the driver is live (MSI-X, requests for the
                // partition scan and the root mount follow at once), so queues and interrupts move mid-use.
                ConsoleWatcher.Result early = srcConsole.await(BOOT_BUDGET, SmokeKernel.LINUX_VERSION, SmokeKernel.VIRTIO_BLK);
                assertThat(early.allSeen()).as("source booting:\n%s", early.describe(20)).isTrue();
                JsonNode stats;
                try (QmpTest.Client c = new QmpTest.Client(qmp)) {
                    c.read();
                    c.execute("qmp_capabilities");
                    stats = c.migrateToCompletion("unix:" + mig, () -> "");
                    c.execute("quit");
                }
                System.out.println("smoke kernel migration: " + stats);
                assertThat(src.waitFor(30, TimeUnit.SECONDS)).isTrue();
                List<ConsoleWatcher.Milestone> all = SmokeKernel.rootDiskMilestones();
                ConsoleWatcher.Result before = srcConsole.await(Duration.ofSeconds(1), all.toArray(ConsoleWatcher.Milestone[]::new));
                // The rest of the boot happens on the destination: every milestone the source did not reach.
                List<ConsoleWatcher.Milestone> rest = new ArrayList<>(before.missing());
                assertThat(rest).as("the source was migrated before the boot ended").contains(all.get(all.size() - 1));
                ConsoleWatcher.Result after = dstConsole.await(rest, BOOT_BUDGET);
                System.out.println("source part:\n" + before.describe(0) + "\ndestination part:\n" + after.describe(0));
                assertThat(after.allSeen()).as("destination milestones:\n%s", after.describe(40)).isTrue();
                assertThat(after.inOrder()).as("in boot order:\n%s", after).isTrue();
                // ...and nothing from before the switch-over is printed again (the boot continued, not restarted).
                // Exact lines (they carry the kernel's timestamp): a milestone's other alternative
                // printed later (e.g. kvm-clock's two messages) is not a replay.
                List<ConsoleWatcher.Milestone> done = before.hits().stream()
                        .map(h -> ConsoleWatcher.Milestone.of(h.milestone().name(), java.util.regex.Pattern.quote(h.line().text())))
                        .toList();
                ConsoleWatcher.Result replay = dstConsole.await(done, Duration.ofMillis(100));
                assertThat(replay.hits()).as("milestones of the source's part seen again on the destination").isEmpty();
                assertThat(dst.waitFor(120, TimeUnit.SECONDS)).as(after.describe(20)).isTrue();
                assertThat(dst.exitValue()).isZero();
            }
        } finally {
            if (src != null) src.destroyForcibly();
            dst.destroyForcibly();
        }
    }
}
