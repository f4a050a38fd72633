package dev.vmm.chipset.pci;

/**
 * A PCI function as the bus sees it: a config space plus the contents of its BARs.
 *
 * <p>Like every device here it is a state machine: it never maps anything itself. The bus maps
 * its BARs on the PIO/MMIO {@link dev.vmm.chipset.bus.Bus} when the guest programs them and
 * enables decoding, and routes accesses there to {@link #barRead}/{@link #barWrite} with the offset
 * inside the BAR. Config accesses arrive already decoded (bus/device/function resolved).
 *
 * <p>The defaults pass config accesses straight to {@link #configSpace()}, whose write masks and
 * {@link PciConfigSpace.WriteListener}s implement the registers; override them only for registers
 * whose reads have side effects (e.g. virtio's PCI configuration access capability). An override of
 * {@link #configWrite} must still apply the write through {@code configSpace().write(...)}, since
 * BAR mapping and INTx gating listen there.
 */
public interface PciDevice {
    /** The function's config space (its header type decides endpoint vs bridge handling). */
    PciConfigSpace configSpace();

    /** A guest config read of 1, 2 or 4 bytes at {@code offset}. */
    default int configRead(int offset, int size) {
        return configSpace().read(offset, size);
    }

    /** A guest config write of 1, 2 or 4 bytes at {@code offset}. */
    default void configWrite(int offset, int size, int value) {
        configSpace().write(offset, size, value);
    }

    /**
     * A guest load from BAR {@code bar} at {@code offset} from its base. Out-of-range or
     * unsupported accesses return all ones or zero as the device prefers; never throw.
     */
    long barRead(int bar, long offset, int size);

    /** A guest store to BAR {@code bar} at {@code offset} from its base. */
    void barWrite(int bar, long offset, int size, long value);

    /**
     * BAR {@code bar} now decodes at {@code newAddress} instead of {@code oldAddress}
     * ({@link PciBar#UNMAPPED} for "nowhere"). Called after the bus range moved.
     */
    default void barMoved(int bar, long oldAddress, long newAddress) { }

    /**
     * The device was attached at a slot; {@code function} gives its address, its INTx line and its
     * current BAR placement. Called once, before any guest access.
     */
    default void attached(PciFunction function) { }

    /** A short name for logs. */
    default String name() {
        return getClass().getSimpleName();
    }
}
