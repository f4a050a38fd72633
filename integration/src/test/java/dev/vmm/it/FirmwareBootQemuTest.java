package dev.vmm.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

/**
 * The QEMU 7.2 reference of the firmware-boot tests: Debian's SeaBIOS (QEMU's own -bios default)
 * and the same GRUB image, under TCG (no KVM needed, a few seconds each), {@code -nodefaults} so
 * that the PCI functions are the chipset's and the boot drive's only.
 */
@Tag("qemu")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FirmwareBootQemuTest extends FirmwareBootCases {
    @Override
    void assumeRunnable() {
        assumeTrue(GrubImage.onPath("qemu-system-x86_64"), "qemu-system-x86_64 is not installed");
    }

    @Override
    GrubImage.Output boot(String machine, Drive drive, Path iso, Path qcow2, Path dir) throws Exception {
        Path serial = dir.resolve("qemu-com1.txt");
        List<String> cmd = new ArrayList<>(List.of("qemu-system-x86_64", "-M", machine, "-nodefaults", "-display", "none",
                "-m", "256", "-no-reboot", "-serial", "file:" + serial, "-smbios", "type=1,manufacturer=" + MANUFACTURER));
        cmd.addAll(switch (drive) {
            case VIRTIO_QCOW2 -> List.of("-drive", "file=" + qcow2 + ",if=virtio,format=qcow2");
            case AHCI_DISK -> List.of("-drive", "file=" + qcow2 + ",if=none,id=d0,format=qcow2", "-device", "ide-hd,drive=d0,bus=ide.0");
            case CDROM -> List.of("-cdrom", iso.toString());
            case USB_STORAGE -> List.of("-device", "qemu-xhci,id=xhci", "-drive", "file=" + qcow2 + ",if=none,id=u0,format=qcow2",
                    "-device", "usb-storage,bus=xhci.0,drive=u0,bootindex=0");
        });
        return GrubImage.boot(cmd, serial, Duration.ofMinutes(5));
    }
}
