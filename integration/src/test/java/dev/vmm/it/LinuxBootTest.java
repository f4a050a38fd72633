package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The other Linux boot paths, in one boot to keep CI short: the smoke kernel's <b>bzImage</b>
 * (boot protocol, its own decompressor) with an <b>initramfs</b> from {@code --initrd} and
 * <b>ACPI on</b> (VmmSmokeKernelTest covers the PVH vmlinux, acpi=off, SMP and a virtio-blk root).
 * The kernel must find our RSDP/XSDT/FADT/MADT/DSDT, enable the AML interpreter, enumerate the
 * PCI root from the DSDT and route PCI interrupts through it, unpack the initramfs and run its
 * /init. On a PVM host init cannot make system calls, so the kernel panics; with ACPI on it finds
 * the pvpanic device (QEMU0001 in our DSDT) and reports the panic there, and the VMM ends with one
 * line naming it and status 125 (with acpi=off the panic only resets, status 0). Elsewhere init
 * runs and reboots: status 0.
 */
@Tag("smoke-kernel")
@Timeout(value = 35, unit = TimeUnit.MINUTES) // one boot, budget 25 min (bootBudget(1500)), plus setup
class LinuxBootTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(1500);

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void bzImageWithAnInitramfsBootsToInitWithAcpi(@TempDir Path tmp) throws Exception {
        Path initrd = SmokeKernel.makeInitramfs(tmp);
        String cmdline = SmokeKernel.defaultCmdline().replace("acpi=off", "").replaceAll("\\s+", " ").strip();
        assertThat(cmdline).doesNotContain("acpi=");
        List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", SmokeKernel.bzImage().toString(),
                "--initrd", initrd.toString(), "--memory", "256M", "--cpus", "1", "--cmdline", cmdline, "--rng");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(List.of(
                    ConsoleWatcher.Milestone.of("bzImage via the boot protocol", "vmm: booting .*bzImage via Linux boot protocol 2\\.\\d+"),
                    SmokeKernel.LINUX_VERSION,
                    ConsoleWatcher.Milestone.of("ACPI: RSDP", "ACPI: RSDP 0x[0-9A-F]+ .*\\(v02 VMM"),
                    ConsoleWatcher.Milestone.of("ACPI: FACP", "ACPI: FACP 0x"),
                    ConsoleWatcher.Milestone.of("ACPI: DSDT", "ACPI: DSDT 0x"),
                    ConsoleWatcher.Milestone.of("ACPI: MADT", "ACPI: APIC 0x"),
                    ConsoleWatcher.Milestone.of("IOAPIC from the MADT", "IOAPIC\\[0\\]: apic_id \\d+, version \\d+, address 0xfec00000, GSI 0-23"),
                    SmokeKernel.KVM_CLOCK,
                    ConsoleWatcher.Milestone.of("AML interpreter", "ACPI: Interpreter enabled"),
                    ConsoleWatcher.Milestone.of("PCI root from the DSDT", "ACPI: PCI Root Bridge \\[PCI0\\]"),
                    ConsoleWatcher.Milestone.of("COM1 from the DSDT", "pnp: PnP ACPI: found [1-9]\\d* devices"),
                    SmokeKernel.UNPACK_INITRAMFS,
                    ConsoleWatcher.Milestone.of("virtio-rng probed on INTx/MSI-X", "pci 0000:00:0\\d\\.0: \\[1af4:1044\\]"),
                    SmokeKernel.RUN_INIT));
            wanted.addAll(SmokeKernel.initramfsMilestones().subList(SmokeKernel.initramfsMilestones().indexOf(SmokeKernel.RUN_INIT) + 1,
                    SmokeKernel.initramfsMilestones().size()));
            ConsoleWatcher.Result r = console.await(wanted, BOOT_BUDGET);
            System.out.println("vmm bzImage+initramfs+ACPI boot:\n" + r.describe(0));
            assertThat(r.allSeen()).as("all milestones:\n%s", r.describe(60)).isTrue();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
            console.awaitEnd(Duration.ofSeconds(10));
            if (SmokeKernel.hostNeedsPvmWorkarounds()) {
                assertThat(console.transcript().stream().map(ConsoleWatcher.Line::text))
                        .as("the VMM names the guest panic").contains("vmm: guest kernel panicked (pvpanic event 0x1)");
                assertThat(p.exitValue()).as("a guest panic is a failed run").isEqualTo(125);
            } else {
                assertThat(p.exitValue()).isZero();
            }
        } finally {
            p.destroyForcibly();
        }
    }
}
