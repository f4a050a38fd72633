package dev.vmm.control.scsi;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.scsi.ScsiController;

/** Installs QMP {@code device_add} of {@code virtio-scsi-pci} and {@code scsi-hd} (over {@code blockdev-add} nodes). */
public final class ScsiHotplug {
    private ScsiHotplug() {}

    public static void install(QmpServer qmp, DeviceDrivers drivers, DeviceRegistry machine, BlockNodes nodes, HotplugPciDriver.Parts parts) {
        ScsiBuses buses = new ScsiBuses(() -> machine.parts(ScsiController.class));
        ScsiHdDriver disks = new ScsiHdDriver(nodes, buses, machine, parts.placement(), qmp::event);
        drivers.register(new VirtioScsiPciDriver(parts, buses, disks));
        drivers.register(disks);
    }
}
