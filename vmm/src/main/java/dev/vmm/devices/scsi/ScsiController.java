package dev.vmm.devices.scsi;

import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.scsi.VirtioScsi;

/**
 * A virtio-scsi controller of a running machine as QMP {@code device_add scsi-hd} reaches it: the
 * name of its SCSI bus (QEMU's: {@code <id>.0}, or {@code scsi.0} for the {@code --scsi} controller,
 * which has no id), the device whose LUNs come and go, and its PCI transport.
 */
public record ScsiController(String busName, VirtioScsi scsi, VirtioPciDevice pci) {
}
