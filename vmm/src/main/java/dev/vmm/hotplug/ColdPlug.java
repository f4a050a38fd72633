package dev.vmm.hotplug;

import dev.vmm.devices.AttachContext;
import dev.vmm.devices.PendingDevice;
import dev.vmm.devices.pcie.PlacedDevice;

/**
 * Attaches one start-up device while the machine is built: a device given {@code id=} goes
 * through {@link PciHotplug#coldPlug} (so QMP {@code device_del} can remove it later, as QEMU lets
 * one unplug a {@code -device ...,id=X} in a hot-pluggable slot), every other one as before.
 */
public final class ColdPlug {
    private ColdPlug() {}

    public static void attach(PendingDevice device, AttachContext ctx) {
        String id = device.qdevId();
        PciHotplug hotplug = id == null ? null : PciHotplug.of(ctx.registry());
        if (hotplug == null) {
            device.attach(ctx);
            return;
        }
        String bus = device instanceof PlacedDevice p && p.target().bus() != null ? p.target().bus() : ctx.pci().rootName();
        hotplug.coldPlug(id, device.qdevDriver(), bus, device);
    }
}
