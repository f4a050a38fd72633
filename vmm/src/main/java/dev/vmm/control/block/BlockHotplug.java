package dev.vmm.control.block;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.machine.Machine;

/** Installs the QMP block hot-plug commands of a running machine: blockdev-add/del and virtio-blk-pci, virtio-scsi-pci, scsi-hd device_add. */
public final class BlockHotplug {
    private BlockHotplug() {}

    public static void install(QmpServer qmp, DeviceDrivers drivers, Machine m) {
        BlockNodes nodes = new BlockNodes();
        BlockdevCommands.install(qmp, nodes);
        if (m.devices() == null) return;
        m.devices().closeLater(nodes::closeAll); // the images are closed (and unlocked) with the machine
        drivers.register(new VirtioBlkPciDriver(nodes, dev.vmm.control.pci.HotplugPciDriver.Parts.of(m)));
        // virtio-scsi-pci and scsi-hd over the same nodes
        dev.vmm.control.scsi.ScsiHotplug.install(qmp, drivers, m.devices(), nodes, dev.vmm.control.pci.HotplugPciDriver.Parts.of(m));
    }
}
