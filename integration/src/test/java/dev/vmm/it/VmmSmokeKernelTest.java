package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CI smoke kernel (a real Linux 6.1 built from Debian's linux-source, integration/smoke-kernel)
 * booted by the real vmm binary as a PVH vmlinux on two vCPUs: SMP bring-up, PCI and virtio probing, the ext2 root mounted
 * read-write from virtio-blk, init started; on this PVM host init cannot make system calls, so the
 * kernel panics and, with panic=-1, resets — which ends the VMM with status 0.
 */
@Tag("smoke-kernel")
class VmmSmokeKernelTest {
    private static final Duration BOOT_BUDGET =
            Duration.ofSeconds(Long.getLong("vmm.smokeKernel.bootBudgetSeconds", 900));

    @BeforeAll
    static void needsKvm() {
        assumeTrue(Vmm.kvmUsable(), "/dev/kvm is not usable on this host");
    }

    @Test
    void bootsToInitFromAnExt2RootOnVirtioBlk(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                "--memory", "256M", "--cpus", "2", "--cmdline", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA),
                "--disk", "path=" + root + ",serial=smoke-root", "--rng"));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(SmokeKernel.rootDiskMilestones());
            // SMP the Linux way (INIT/SIPI through the in-kernel LAPIC). QEMU hangs here on this host: its
            // guest parks in the PV send-IPI hypercall, which we hide on a PVM host (CpuTopology).
            wanted.add(2, ConsoleWatcher.Milestone.of("SMP: both vCPUs up", "smpboot: Total of 2 processors activated"));
            wanted.add(3, ConsoleWatcher.Milestone.of("PCI probe of the virtio-blk function", "pci 0000:00:0\\d\\.0: \\[1af4:1042\\]"));
            ConsoleWatcher.Result r = console.await(wanted, BOOT_BUDGET);
            System.out.println("vmm smoke boot:\n" + r.describe(0));
            assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(40)).isTrue();
            assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
            assertThat(p.exitValue()).isZero();
        } finally {
            p.destroyForcibly();
        }
    }
}
