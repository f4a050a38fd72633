package dev.vmm.chipset.pci;

/**
 * A PCI function whose registers are all in its config space (host bridges, the LPC bridge): no
 * BARs, so BAR accesses cannot reach it; reads would float high, writes go nowhere.
 */
public abstract class BarlessFunction implements PciDevice {
    protected final PciConfigSpace config;
    private final String name;

    protected BarlessFunction(PciConfigSpace config, String name) {
        this.config = config;
        this.name = name;
    }

    @Override
    public final PciConfigSpace configSpace() { return config; }

    @Override
    public final long barRead(int bar, long offset, int size) { return -1L; }

    @Override
    public final void barWrite(int bar, long offset, int size, long value) { }

    @Override
    public String name() { return name; }
}
