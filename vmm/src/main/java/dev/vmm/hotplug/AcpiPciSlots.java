package dev.vmm.hotplug;

import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.devices.PciPlacement;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * {@code pc}: ACPI PCI hot-plug on bus 0 through QEMU's PIIX4 register block ({@link Piix4PciHotplug}
 * at 0xae00) and GPE0 bit 1. {@link #seal} records the start-up layout once, when the DSDT is
 * written: slot 0 (the host bridge) and every bridge are fixed, start-up devices cold-plugged, and
 * every slot but the fixed ones gets an {@code Sxx} object (a start-up device's slot can take a
 * hot-plugged device once it is gone). Devices behind bridges are not hot-pluggable (RHEL 7's rule).
 */
public final class AcpiPciSlots implements PciSlots {
    private final Gpe0Block gpe;
    private final Piix4PciHotplug block;
    private volatile Consumer<PciDevice> ejected = d -> { };
    private PciBus root;
    private int slotMask;
    private boolean sealed;

    public AcpiPciSlots(Gpe0Block gpe) {
        this.gpe = Objects.requireNonNull(gpe);
        this.block = new Piix4PciHotplug((slot, requested) -> ejectedSlot(slot));
    }

    /** The register block to put on the I/O bus at {@link Piix4PciHotplug#BASE}. */
    public Piix4PciHotplug block() { return block; }

    /**
     * Records which root slots are fixed and which hold start-up devices (the first call; later calls
     * return the same answer) and returns the slots that get an {@code Sxx} object.
     */
    public synchronized int seal(PciBus root) {
        if (sealed) return slotMask;
        this.root = root;
        int mask = 0;
        for (int slot = 0; slot < PciBus.SLOTS; slot++) {
            PciFunction f = root.function(slot, 0);
            if (slot == 0 || f != null && f.device() instanceof PciBridge) {
                block.fixedSlot(slot);
                continue;
            }
            if (f != null) block.coldPlugged(slot);
            mask |= 1 << slot;
        }
        slotMask = mask;
        sealed = true;
        return mask;
    }

    @Override
    public synchronized String refusal(String busName, PciPlacement.Downstream bus) {
        if (!sealed) return "the machine's ACPI hot-plug slots are not set up yet";
        return bus.bus().isRoot() ? null : PlugErrors.behindBridge(busName);
    }

    @Override
    public void announce(PciPlacement.Downstream bus, PciFunction f) {
        block.plug(f.slot());
        gpe.raise(Piix4PciHotplug.GPE_BIT);
    }

    @Override
    public void requestUnplug(PciPlacement.Downstream bus, PciFunction f) {
        block.requestUnplug(f.slot());
        gpe.raise(Piix4PciHotplug.GPE_BIT);
    }

    @Override
    public void onEject(Consumer<PciDevice> ejected) {
        this.ejected = Objects.requireNonNull(ejected);
    }

    /** The guest wrote B0EJ: every function of the slot leaves the bus, as the guest now sees it. */
    private void ejectedSlot(int slot) {
        PciBus bus;
        synchronized (this) { bus = root; }
        if (bus == null) return;
        for (int fn = 0; fn < PciBus.FUNCTIONS; fn++) {
            PciFunction f = bus.detach(slot, fn);
            if (f != null) ejected.accept(f.device());
        }
    }
}
