package dev.vmm.devices;

import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciDevice;

/**
 * Chooses where a PCI function goes: the first free slot of the current bus; when only one slot is
 * left there, a PCI-to-PCI bridge takes it and later devices go behind the bridge (and so on), so a
 * machine holds any number of devices, as QEMU's pci-bridge allows.
 */
public final class PciPlacement {
    private final PciBus root;
    private PciBus current;

    public PciPlacement(PciBus root) {
        this.root = root;
        this.current = root;
    }

    /** Puts {@code dev} at a fixed root-bus address (a chipset function such as 00:1f.2). */
    public synchronized void placeAt(int slot, int function, PciDevice dev) {
        root.attach(slot, function, dev);
    }

    public synchronized void place(PciDevice dev) {
        int free = 0;
        for (int slot = 0; slot < 32; slot++) if (current.isSlotEmpty(slot)) free++;
        if (free <= 1) {
            PciBridge bridge = new PciBridge();
            current.attach(bridge);
            current = bridge.secondaryBus();
        }
        current.attach(dev);
    }
}
