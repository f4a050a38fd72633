package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's firmware-boot tests, once per side: SeaBIOS → GRUB (the {@link GrubImage}) from a
 * virtio-blk qcow2 on {@code pc} (test 1), from an AHCI disk and from an El Torito CD-ROM on
 * {@code q35} (test 2), with the SMBIOS type 1 manufacturer read back by GRUB (test 4); and (issue
 * 20) from a usb-storage disk on the qemu-xhci controller (SuperSpeed, SeaBIOS's xHCI driver). The same
 * expectations hold for QEMU 7.2 ({@link FirmwareBootQemuTest}, TCG: runs on any host) and for vmm
 * ({@link FirmwareBootVmmTest}, needs /dev/kvm): the marker lines, the chipset's PCI functions as
 * GRUB enumerates them, the boot drive's controller, and the manufacturer given on the command line.
 */
abstract class FirmwareBootCases {
    static final String MANUFACTURER = "VmmFirmwareTest";

    enum Drive { VIRTIO_QCOW2, AHCI_DISK, CDROM, USB_STORAGE }

    /** Boots {@code machine} from {@code drive} holding the GRUB image; SMBIOS type 1 manufacturer = {@link #MANUFACTURER}. */
    abstract GrubImage.Output boot(String machine, Drive drive, Path iso, Path qcow2, Path dir) throws Exception;

    /** Skips (with its reason) when this side cannot run here; called before the image is made. */
    abstract void assumeRunnable();

    private GrubImage.Output bootChecked(String machine, Drive drive, Path dir) throws Exception {
        assumeRunnable();
        GrubImage.assumeTools();
        Path iso = GrubImage.iso(dir);
        Path qcow2 = drive == Drive.VIRTIO_QCOW2 || drive == Drive.AHCI_DISK || drive == Drive.USB_STORAGE ? GrubImage.qcow2(iso) : null;
        GrubImage.Output out = boot(machine, drive, iso, qcow2, dir);
        assertThat(out.complete()).as("GRUB's markers on COM1:\n%s", out.serial()).isTrue();
        assertThat(out.smbiosManufacturer()).as("SMBIOS type 1 manufacturer:\n%s", out.serial()).isEqualTo(MANUFACTURER);
        return out;
    }

    @Test
    void pcBootsGrubFromVirtioBlkQcow2(@TempDir Path dir) throws Exception {
        List<String> pci = bootChecked("pc", Drive.VIRTIO_QCOW2, dir).pci();
        assertThat(pci).contains("00:00.0 8086:1237");                               // i440FX host bridge
        assertThat(pci).anyMatch(l -> l.endsWith(" 1af4:1001"));                    // virtio-blk (transitional)
    }

    @Test
    void q35BootsGrubFromAhciDisk(@TempDir Path dir) throws Exception {
        List<String> pci = bootChecked("q35", Drive.AHCI_DISK, dir).pci();
        assertThat(pci).contains("00:00.0 8086:29c0", "00:1f.0 8086:2918", "00:1f.2 8086:2922");
    }

    @Test
    void q35BootsGrubFromUsbStorageOnXhci(@TempDir Path dir) throws Exception {
        List<String> pci = bootChecked("q35", Drive.USB_STORAGE, dir).pci();
        assertThat(pci).contains("00:00.0 8086:29c0");
        assertThat(pci).anyMatch(l -> l.endsWith(" 1b36:000d"));                    // qemu-xhci
    }

    @Test
    void q35BootsGrubFromElToritoCdrom(@TempDir Path dir) throws Exception {
        List<String> pci = bootChecked("q35", Drive.CDROM, dir).pci();
        assertThat(pci).contains("00:00.0 8086:29c0", "00:1f.2 8086:2922");
    }
}
