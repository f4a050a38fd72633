package dev.vmm.it;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 20's guest test: the smoke kernel (USB_XHCI_HCD, USB_STORAGE, USB_HID) finds the xHCI
 * host controller, the usb-storage disk as a SuperSpeed device and as {@code sd}, the guest-test
 * init mounts it (ext2) and prints the marker file on it, and the tablet is registered as an
 * input device. QEMU (TCG) with {@code qemu-xhci}, {@code usb-storage}, {@code usb-tablet} is the
 * reference; the VMM half ({@code --usb --usb-storage path=... --usb-tablet}) needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelUsbTest {
    private static final String MARKER = "vmm-usb-storage-marker";

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        Path disk = disk(dir);
        try (SmokeGuest g = SmokeGuest.qemu(dir, "pc", "1", SmokeGuest.initramfs(dir), cmdline(), List.of(
                "-device", "qemu-xhci,id=xhci", "-drive", "if=none,id=usbdisk,format=raw,file=" + disk,
                "-device", "usb-storage,bus=xhci.0,drive=usbdisk", "-device", "usb-tablet,bus=xhci.0"))) {
            findsEverything(g);
        }
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        SmokeGuest.needVmmGuestUserSpace();
        Path disk = disk(dir);
        try (SmokeGuest g = SmokeGuest.vmm(dir, SmokeGuest.initramfs(dir), cmdline(),
                List.of("--usb", "--usb-storage", "path=" + disk, "--usb-tablet"))) {
            findsEverything(g);
        }
    }

    private static String cmdline() {
        return SmokeGuest.cmdline("usb", "panic=-1");
    }

    /** A 4 MiB ext2 image holding /usb-marker (mke2fs -d: no mount needed). */
    private static Path disk(Path dir) throws Exception {
        Path stage = Files.createDirectories(dir.resolve("usb-stage"));
        Files.writeString(stage.resolve("usb-marker"), MARKER + "\n", StandardCharsets.US_ASCII);
        Path img = dir.resolve("usb.img");
        Process p = new ProcessBuilder("/sbin/mke2fs", "-q", "-F", "-t", "ext2", "-d", stage.toString(), img.toString(), "4M")
                .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("mke2fs: %s", out).isZero();
        return img;
    }

    private static void findsEverything(SmokeGuest g) throws Exception {
        g.expect(SmokeGuest.BOOT_BUDGET, SmokeKernel.LINUX_VERSION,
                ConsoleWatcher.Milestone.of("xHCI controller", "xhci_hcd [0-9a-f:.]+: xHCI Host Controller"),
                ConsoleWatcher.Milestone.of("SuperSpeed device", "usb \\d+-\\d+: new SuperSpeed (Gen 1 )?USB device number \\d+ using xhci_hcd"),
                ConsoleWatcher.Milestone.of("disk as sd", "sd \\d+:0:0:0: \\[sda\\]"),
                SmokeGuest.said("marker from the mounted USB disk", "usb marker " + MARKER),
                SmokeGuest.said("tablet listed by the guest", "input device: .*USB Tablet"),
                SmokeGuest.said("init ends", "done, powering off"));
        g.expect(SmokeGuest.STEP_BUDGET, ConsoleWatcher.Milestone.of("tablet registered", "input: .*USB Tablet as "));
        assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as(g.tail()).isZero();
    }
}
