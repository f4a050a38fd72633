package dev.vmm.control.scsi;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.hotplug.PciHotplug;

/** Installs QMP {@code device_add} of {@code virtio-scsi-pci} and {@code scsi-hd} (over {@code blockdev-add} nodes). */
public final class ScsiHotplug {
    private ScsiHotplug() {}

    public static void install(QmpServer qmp, DeviceDrivers drivers, DeviceRegistry machine, BlockNodes nodes, HotplugPciDriver.Parts parts) {
        // Start-up controllers: in the machine's registry, or (--scsi-controller id=, unpluggable) in one of their own.
        ScsiBuses buses = new ScsiBuses(() -> machine.partsWithChildren(ScsiController.class));
        ScsiHdDriver disks = new ScsiHdDriver(nodes, buses, machine, parts.placement(), qmp::event);
        PciHotplug hotplug = parts.hotplug().get();
        if (hotplug != null) {
            // A start-up controller the guest ejected: the disks plugged onto it at run time go with it, reported first.
            hotplug.onEjected(id -> disks.controllerGone(id + ".0")); // no disk is on another device's "<id>.0"
        }
        drivers.register(new VirtioScsiPciDriver(parts, buses, disks));
        drivers.register(disks);
    }
}
