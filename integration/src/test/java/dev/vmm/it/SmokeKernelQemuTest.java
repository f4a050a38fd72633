package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference boot: the smoke kernel under QEMU/KVM, from the ext2 root disk, through the
 * end of boot (the "No working init found" panic on a PVM host, init's marker and reboot
 * elsewhere). Proves the kernel, the rootfs and the milestone list are right, so a VMM smoke
 * test failing on the same milestones points at the VMM. Slow (~45 s on a PVM host, plus a
 * few minutes the first time for the kernel build): the only QEMU test.
 */
@Tag("qemu")
@Tag("smoke-kernel")
@Tag("slow")
@Timeout(value = 25, unit = TimeUnit.MINUTES) // boot budget 10 min (bootBudget(600)) plus the kernel build if not cached
class SmokeKernelQemuTest {

    /**
     * ~45 s on an idle PVM host, several minutes on a loaded one (guest kernel code is emulated
     * on the host's CPUs: docs/smoke-kernel.md); override with -Dvmm.smokeKernel.bootBudgetSeconds.
     */
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(600);

    @Test
    void bootsFromExt2RootDiskThroughEndOfBoot(@TempDir Path tmp) throws Exception {
        Optional<Path> qemu = onPath("qemu-system-x86_64");
        assumeTrue(qemu.isPresent(), "qemu-system-x86_64 is not installed: skipping the QEMU reference boot");
        Path kvm = Path.of("/dev/kvm");
        assumeTrue(Files.isReadable(kvm) && Files.isWritable(kvm), "/dev/kvm is not accessible: skipping the QEMU reference boot");

        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        List<String> cmd = new ArrayList<>(List.of(qemu.get().toString(),
                "-accel", "kvm", "-m", "256", "-smp", "1", "-no-reboot", "-nographic",
                // No default NIC: its iPXE option ROM only adds emulated firmware time.
                "-nic", "none",
                "-kernel", vmlinux.toString(),
                "-append", SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA),
                "-drive", "file=" + root + ",if=virtio,format=raw"));
        if (SmokeKernel.hostNeedsPvmWorkarounds()) {
            cmd.addAll(List.of("-cpu", SmokeKernel.PVM_QEMU_CPU));
        }

        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            ConsoleWatcher.Result r = console.await(SmokeKernel.rootDiskMilestones(), BOOT_BUDGET);
            System.out.println("QEMU smoke boot (" + String.join(" ", cmd) + "):\n" + r.describe(0));
            assertThat(r.allSeen()).as("all milestones:\n%s", r).isTrue();
            assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
            if (SmokeKernel.hostNeedsPvmWorkarounds()) {
                // The expected end on a PVM host: init's first syscall faults, init dies.
                assertThat(r.hit("Kernel panic").orElseThrow().line().text()).contains("kill init");
            }
            // panic=-1 / init's reboot request plus -no-reboot: QEMU ends by itself.
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("QEMU exits after the end of boot:\n%s", r).isTrue();
        } finally {
            p.destroyForcibly();
        }
    }

    private static Optional<Path> onPath(String name) {
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator))
                .map(d -> Path.of(d, name))
                .filter(Files::isExecutable)
                .findFirst();
    }
}
