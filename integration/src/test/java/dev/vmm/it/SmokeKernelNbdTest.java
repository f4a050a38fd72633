package dev.vmm.it;

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
 * Issue #17 test 5 (smoke-kernel part): the smoke kernel's ext2 root file system is served by
 * {@code vmm nbd} over a UNIX socket and attached with {@code --disk path=nbd+unix:///?socket=...};
 * Linux's virtio_blk finds the disk, mounts the root read-write through the NBD client and starts init.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelNbdTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void bootsToInitFromAnExt2RootServedOverNbd(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        Path socket = tmp.resolve("nbd.sock"), pid = tmp.resolve("nbd.pid"), log = tmp.resolve("nbd.log");
        Process server = new ProcessBuilder(Vmm.binary().toString(), "nbd", "--persistent", "-f", "raw",
                "--socket", socket.toString(), "--pid-file", pid.toString(), root.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Process p = null;
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!(Files.exists(pid) && Files.size(pid) > 0)) {
                assertThat(server.isAlive()).as("vmm nbd exited: %s", Files.exists(log) ? Files.readString(log) : "").isTrue();
                assertThat(System.nanoTime()).as("vmm nbd did not write its pid file in 30 s").isLessThan(deadline);
                Thread.sleep(20);
            }
            List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                    "--memory", "256M", "--cpus", "1", "--cmdline", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA),
                    "--disk", "path=nbd+unix:///?socket=" + socket, "--rng");
            long t0 = System.nanoTime();
            p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
                List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(SmokeKernel.rootDiskMilestones());
                ConsoleWatcher.Result r = console.await(wanted, BOOT_BUDGET);
                System.out.println("vmm smoke boot with its root on NBD:\n" + r.describe(0));
                assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(60)).isTrue();
                assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
                assertThat(p.exitValue()).isZero();
            }
        } finally {
            if (p != null) p.destroyForcibly();
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
