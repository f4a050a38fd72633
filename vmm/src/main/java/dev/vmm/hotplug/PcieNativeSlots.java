package dev.vmm.hotplug;

import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.pcie.RootPortAttach;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * {@code q35}: PCI Express native hot-plug, one device per {@code pcie-root-port} slot (Linux
 * {@code pciehp}): presence detect and link events on plug, the attention button on device_del;
 * the port takes the device off its bus when the OS powers the slot off.
 */
public final class PcieNativeSlots implements PciSlots {
    private volatile Consumer<PciDevice> ejected = d -> { };

    @Override
    public String refusal(String busName, PciPlacement.Downstream bus) {
        if (bus instanceof RootPortAttach.Slot) return null;
        if (bus.bus().isRoot()) return "Bus '" + busName + "' does not support hotplugging";
        return "Bus '" + busName + "' is behind a PCI bridge: only pcie-root-port slots are hot-pluggable on q35";
    }

    @Override
    public void announce(PciPlacement.Downstream bus, PciFunction f) {
        RootPortAttach.Slot slot = (RootPortAttach.Slot) bus;
        slot.port().slotListener(d -> ejected.accept(d));
        slot.port().announcePlug();
    }

    @Override
    public void requestUnplug(PciPlacement.Downstream bus, PciFunction f) {
        RootPortAttach.Slot slot = (RootPortAttach.Slot) bus;
        slot.port().slotListener(d -> ejected.accept(d));   // a start-up device (id=) was never announced
        slot.port().pressAttentionButton();
    }

    @Override
    public void onEject(Consumer<PciDevice> ejected) {
        this.ejected = Objects.requireNonNull(ejected);
    }
}
