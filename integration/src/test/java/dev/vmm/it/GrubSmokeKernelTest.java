package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13, test 3: on q35, SeaBIOS boots GRUB from an AHCI disk, GRUB loads the smoke kernel's
 * bzImage from it, and the kernel finds the ICH9 AHCI, its ATA disk with the ext2 root (port 1,
 * /dev/sdb), MMCONFIG at the ECAM window, and mounts the root. Run under QEMU 7.2 (KVM) as the
 * reference and under vmm; both need the smoke kernel, which is built on hosts with /dev/kvm.
 * ACPI stays on here: MMCONFIG comes from the MCFG table.
 */
@Tag("smoke-kernel")
@Tag("slow")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class GrubSmokeKernelTest {
    static final List<String> MILESTONES = List.of(
            "PCI: MMCONFIG for domain 0000 [bus 00-ff] at [mem 0xb0000000-0xbfffffff]",
            "ahci 0000:00:1f.2: AHCI 0001.0000 32 slots 6 ports",
            "ata2.00: ATA-",
            "VFS: Mounted root (ext2 filesystem)");

    private static GrubImage.Output bootWith(Path dir, boolean vmm) throws Exception {
        assumeTrue(Vmm.kvmUsable(), "/dev/kvm is not usable: the smoke kernel is built and booted only on KVM hosts");
        GrubImage.assumeTools();
        Path bz = SmokeKernel.bzImage();
        Path root = SmokeKernel.makeRootfs(dir);
        String cmdline = String.join(" ", "console=ttyS0", "panic=-1", "root=/dev/sdb",
                SmokeKernel.hostNeedsPvmWorkarounds() ? SmokeKernel.defaultCmdline().replace("console=ttyS0 acpi=off panic=-1", "") : "").strip();
        Path iso = GrubImage.iso(dir, List.of(bz), """
                echo "%s"
                linux /boot/bzImage %s
                boot
                """.formatted(GrubImage.START, cmdline));
        Path disk = GrubImage.qcow2(iso);
        Path serial = dir.resolve(vmm ? "vmm-com1.txt" : "qemu-com1.txt");
        List<String> cmd = new ArrayList<>();
        if (vmm) {
            cmd.addAll(List.of(Vmm.binary().toString(), "run", "--machine", "q35", "--memory", "512M", "--serial", "file:" + serial,
                    "--ahci", "path=" + disk + ",format=qcow2,bootindex=0", "--ahci", "path=" + root + ",format=raw", "--quiet"));
        } else {
            cmd.addAll(List.of("qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-nodefaults", "-display", "none", "-m", "512",
                    "-no-reboot", "-serial", "file:" + serial,
                    "-drive", "file=" + disk + ",if=none,id=d0,format=qcow2", "-device", "ide-hd,drive=d0,bus=ide.0",
                    "-drive", "file=" + root + ",if=none,id=d1,format=raw", "-device", "ide-hd,drive=d1,bus=ide.1"));
        }
        return GrubImage.boot(cmd, serial, SmokeKernel.bootBudget(600));
    }

    private static void check(GrubImage.Output out) {
        for (String m : MILESTONES) assertThat(out.serial()).as("kernel log:\n%s", out.serial()).contains(m);
    }

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        assumeTrue(GrubImage.onPath("qemu-system-x86_64"), "qemu-system-x86_64 is not installed");
        check(bootWith(dir, false));
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        check(bootWith(dir, true));
    }
}
