package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Debian's stock cloud kernel (a bzImage) with a busybox initramfs, booted with ACPI on two vCPUs
 * to an interactive shell: the shell answers a command typed on the serial console, and
 * {@code poweroff -f} (ACPI S5) ends the VMM with status 0.
 *
 * <p>Needs hardware virtualisation. On a PVM host (kvm_pvm loaded, this project's CI machine)
 * guest kernel code is emulated and a stock kernel stops at instructions the emulator lacks (its
 * int3 self-test, xrstor, ...); user mode cannot make system calls either, so no shell could run:
 * the test is skipped there with that reason, and the smoke kernel tests cover booting.
 */
@Tag("stock-kernel")
class StockKernelTest {
    @BeforeAll
    static void needsHardwareVirtualisation() {
        GuestNeeds.kvm();
        GuestNeeds.notOnPvmHost("PVM host (/sys/module/kvm_pvm): guest kernel code is emulated and user mode cannot make system "
                        + "calls, so a stock kernel cannot reach a shell here; runs on VT-x/SVM hosts");
    }

    @Test
    void stockCloudKernelBootsToABusyboxShell() throws Exception {
        Path dir = Path.of(SmokeKernel.runScript("stock-kernel.sh"));
        List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", dir.resolve("vmlinuz").toString(),
                "--initrd", dir.resolve("initramfs.cpio.gz").toString(), "--memory", "512M", "--cpus", "2",
                "--cmdline", "console=ttyS0 panic=-1");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            ConsoleWatcher.Result booted = console.await(List.of(
                    ConsoleWatcher.Milestone.of("Linux version", "Linux version 6\\."),
                    ConsoleWatcher.Milestone.of("ACPI tables", "ACPI: (RSDP|XSDT|FACP|DSDT|APIC) "),
                    ConsoleWatcher.Milestone.of("SMP", "smpboot: Total of 2 processors activated"),
                    ConsoleWatcher.Milestone.of("init", "vmm-stock-init: .* up, 2 CPU\\(s\\)")), Duration.ofMinutes(3));
            assertThat(booted.allSeen()).as("boot milestones:\n%s", booted.describe(60)).isTrue();

            OutputStream serialIn = p.getOutputStream();
            serialIn.write("echo vmm-stock-shell-$((6*7))\n".getBytes(StandardCharsets.US_ASCII));
            serialIn.flush();
            ConsoleWatcher.Result shell = console.await(Duration.ofSeconds(60),
                    ConsoleWatcher.Milestone.of("shell answered", "vmm-stock-shell-42"));
            assertThat(shell.allSeen()).as("the shell runs commands:\n%s", shell.describe(30)).isTrue();

            serialIn.write("poweroff -f\n".getBytes(StandardCharsets.US_ASCII));
            serialIn.flush();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("ACPI power-off ends the VMM").isTrue();
            assertThat(p.exitValue()).isZero();
        } finally {
            p.destroyForcibly();
        }
    }
}
