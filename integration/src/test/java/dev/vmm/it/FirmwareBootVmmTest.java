package dev.vmm.it;


import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Timeout;

/**
 * vmm's side of the firmware-boot tests: {@code vmm run} without {@code --kernel}, Debian's SeaBIOS
 * by default, the drive as {@code --disk} (pc), {@code --ahci} or {@code --cdrom} (q35), COM1 to a
 * file (so {@code etc/sercon-port} sends SeaBIOS's screen there too). Needs /dev/kvm.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class FirmwareBootVmmTest extends FirmwareBootCases {
    @Override
    void assumeRunnable() {
        GuestNeeds.kvm("vmm cannot boot SeaBIOS (the QEMU side runs in FirmwareBootQemuTest)");
    }

    @Override
    GrubImage.Output boot(String machine, Drive drive, Path iso, Path qcow2, Path dir) throws Exception {
        Path serial = dir.resolve("vmm-com1.txt");
        List<String> cmd = new ArrayList<>(List.of(Vmm.binary().toString(), "run", "--machine", machine, "--memory", "256M",
                "--serial", "file:" + serial, "--smbios", "type=1,manufacturer=" + MANUFACTURER, "--quiet"));
        cmd.addAll(switch (drive) {
            case VIRTIO_QCOW2 -> List.of("--disk", "path=" + qcow2 + ",format=qcow2,bootindex=0");
            case AHCI_DISK -> List.of("--ahci", "path=" + qcow2 + ",format=qcow2,bootindex=0");
            case CDROM -> List.of("--cdrom", "path=" + iso + ",bootindex=0");
            case USB_STORAGE -> List.of("--usb", "--usb-storage", "path=" + qcow2 + ",format=qcow2,bootindex=0");
        });
        return GrubImage.boot(cmd, serial, Duration.ofMinutes(2));
    }
}
