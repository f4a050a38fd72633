package dev.vmm.devices.pcie;

import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;

/**
 * A device given {@code bus=}/{@code addr=}: its own attach code, run with the placement pointed at
 * the target, so the one call of {@link PciPlacement#place} inside it lands there (and a virtio
 * function behind a root port is created as a PCI Express endpoint).
 */
public record PlacedDevice(PendingDevice device, PciTarget target) implements PendingDevice {
    @Override
    public void attach(AttachContext ctx) {
        ctx.pci().at(target, () -> {
            device.attach(ctx);
            return null;
        });
    }

    @Override
    public void place(PciPlacement pci, PciDevice standIn) {
        pci.at(target, () -> {
            device.place(pci, standIn);
            return null;
        });
    }

    @Override
    public String describe() {
        return device.describe();
    }

    @Override
    public String qdevId() { return device.qdevId(); }

    @Override
    public String qdevDriver() { return device.qdevDriver(); }

    @Override
    public void close() {
        device.close();
    }
}
