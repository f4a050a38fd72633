package dev.vmm.hotplug;

import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.devices.PciPlacement;

import java.util.function.Consumer;

/**
 * How a machine tells the guest about a PCI device plugged or to be removed at run time: ACPI
 * (QEMU's PIIX4 register block and GPE, {@code pc}) or PCI Express native hot-plug (root port
 * slots, {@code q35}). The device is on the bus before {@link #announce}; the guest's eject
 * takes it off the bus and is reported to the {@link #onEject} consumer.
 */
public interface PciSlots {
    /** Why a device cannot be hot-plugged on {@code bus} (QEMU's wording where it has one), or null. */
    String refusal(String busName, PciPlacement.Downstream bus);

    /** The device's function is in place: tell the guest. */
    void announce(PciPlacement.Downstream bus, PciFunction f);

    /** device_del: ask the guest to release the device. */
    void requestUnplug(PciPlacement.Downstream bus, PciFunction f);

    /** Who is told (on the vCPU thread) that the guest ejected a device; it is off the bus then. */
    void onEject(Consumer<PciDevice> ejected);
}
