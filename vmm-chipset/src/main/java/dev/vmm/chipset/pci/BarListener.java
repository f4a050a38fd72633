package dev.vmm.chipset.pci;

/**
 * Told when a BAR starts, stops or moves decoding, after the range moved on the PIO/MMIO bus.
 *
 * <p>The VMM uses it for things that live outside the bus at BAR addresses: ioeventfds on virtio
 * notify registers, KVM memory slots for directly mapped BARs.
 */
@FunctionalInterface
public interface BarListener {
    /**
     * @param function   the function whose BAR moved
     * @param bar        the BAR index (the low register of a 64-bit BAR)
     * @param oldAddress the previous guest address, or {@link PciBar#UNMAPPED}
     * @param newAddress the new guest address, or {@link PciBar#UNMAPPED}
     */
    void barMoved(PciFunction function, int bar, long oldAddress, long newAddress);

    BarListener NONE = (f, b, o, n) -> { };
}
