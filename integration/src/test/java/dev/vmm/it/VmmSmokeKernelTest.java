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
 * The CI smoke kernel (a real Linux 6.1 built from Debian's linux-source, integration/smoke-kernel)
 * booted by the real vmm binary as a PVH vmlinux on two vCPUs: SMP bring-up, PCI and virtio probing, the ext2 root mounted
 * read-write from virtio-blk, init started; on this PVM host init cannot make system calls, so the
 * kernel panics and, with panic=-1, resets — which ends the VMM with status 0.
 *
 * <p>The same boot carries a virtio-rng and a virtio-console (one named port on a UNIX socket):
 * both functions must be enumerated, and the VMM's {@code --stats} at exit must show the rng
 * driven to DRIVER_OK and serving entropy (Linux prints nothing when an hwrng probes). With
 * CONFIG_VIRTIO_CONSOLE in the kernel (the fragment has it) the test adds {@code console=hvc0} and
 * also expects the hvc0 console line and both ports guest-ready.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES) // one boot, budget 15 min (SmokeKernel.bootBudget(900)), plus setup
class VmmSmokeKernelTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    /** Whether the smoke kernel was built with the virtio-console driver (config-fragment). */
    private static boolean kernelHasVirtioConsole() throws Exception {
        Path config = SmokeKernel.ensureBuilt().resolve("config");
        return Files.isRegularFile(config) && Files.readAllLines(config).contains("CONFIG_VIRTIO_CONSOLE=y");
    }

    @Test
    void bootsToInitFromAnExt2RootOnVirtioBlk(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path root = SmokeKernel.makeRootfs(tmp);
        boolean console = kernelHasVirtioConsole();
        Path portSocket = tmp.resolve("port.sock");
        // hvc0 (console port 0) shares the VMM's stdout with ttyS0: with the driver in the kernel,
        // console=hvc0 as a second console makes every kernel line appear twice.
        String cmdline = SmokeKernel.defaultCmdline(SmokeKernel.ROOT_VDA) + (console ? " console=hvc0" : "");
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                "--memory", "256M", "--cpus", "2", "--cmdline", cmdline,
                "--disk", "path=" + root + ",serial=smoke-root", "--rng",
                "--console-port", "name=org.vmm.smoke,socket=" + portSocket, "--stats"));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher watcher = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(SmokeKernel.rootDiskMilestones());
            // SMP the Linux way (INIT/SIPI through the in-kernel LAPIC). QEMU hangs here on this host: its
            // guest parks in the PV send-IPI hypercall, which we hide on a PVM host (CpuTopology).
            wanted.add(2, ConsoleWatcher.Milestone.of("SMP: both vCPUs up", "smpboot: Total of 2 processors activated"));
            wanted.add(3, ConsoleWatcher.Milestone.of("PCI probe of the virtio-blk function", "pci 0000:00:0\\d\\.0: \\[1af4:1042\\]"));
            // The rng and console functions, enumerated right after the disk (PCI slot order).
            wanted.add(4, ConsoleWatcher.Milestone.of("PCI probe of the virtio-rng function", "pci 0000:00:0\\d\\.0: \\[1af4:1044\\]"));
            wanted.add(5, ConsoleWatcher.Milestone.of("PCI probe of the virtio-console function", "pci 0000:00:0\\d\\.0: \\[1af4:1043\\]"));
            // One socket for both vCPUs: the CPUID topology leaves (0xB subleaves, AMD 0x8000001E) agree with the MADT.
            wanted.add(2, ConsoleWatcher.Milestone.of("one package (CPUID topology)", "smpboot: Max logical packages: 1"));
            ConsoleWatcher.Result r = watcher.await(wanted, BOOT_BUDGET);
            System.out.println("vmm smoke boot:\n" + r.describe(0));
            assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(40)).isTrue();
            assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
            assertThat(p.exitValue()).isZero();
            // --stats at exit: the kernel's virtio_rng driver brought the device up (DRIVER_OK, bit 2)
            // and its hwrng thread drew entropy from it. The kernel logs nothing for an hwrng probe.
            assertThat(watcher.awaitEnd(Duration.ofSeconds(30))).isTrue();
            String all = String.join("\n", watcher.transcript().stream().map(ConsoleWatcher.Line::text).toList());
            java.util.regex.Matcher rng = java.util.regex.Pattern
                    .compile("virtio-rng: status 0x([0-9a-f]{2}), (\\d+) bytes of entropy served").matcher(all);
            assertThat(rng.find()).as("rng statistics in:\n%s", all).isTrue();
            all.lines().filter(l -> l.contains("virtio-rng:") || l.contains("virtio-console:")).forEach(System.out::println);
            assertThat(Integer.parseInt(rng.group(1), 16) & 0x4f).as("virtio-rng status").isEqualTo(0x0f);
            assertThat(Long.parseLong(rng.group(2))).as("entropy bytes served").isPositive();
            if (console) {
                // hvc0 registers when the driver has set up port 0 (a work item, so not in a fixed order
                // with the virtio_blk probe; always before the root mount, which the order above checks).
                assertThat(all).contains("printk: console [hvc0] enabled");
                // The driver took the named port: DEVICE_READY, PORT_READY for port 1 → guest-ready.
                assertThat(all).containsPattern("virtio-console: status 0x0f, port 0 guest-ready[^\\n]*, port 1 org.vmm.smoke guest-ready");
            }
        } finally {
            p.destroyForcibly();
        }
    }
}
