package dev.vmm.chipset.pci;

/**
 * A transparent PCI-to-PCI bridge (header type 1) with a secondary {@link PciBus} behind it.
 *
 * <p>Identity: vendor 0x1b36 device 0x0001, class 0x0604 (PCI-to-PCI bridge), the ids QEMU's
 * {@code pci-bridge} uses, so guests treat it as the plain bridge it is and need no driver.
 *
 * <p>The guest programs everything: primary/secondary/subordinate bus numbers decide which config
 * cycles it forwards; the I/O (16-bit), memory (32-bit) and prefetchable (64-bit) base/limit windows
 * and the command register's I/O and memory enables decide which BARs behind it are reachable.
 * Any change to those re-evaluates the BAR mappings of the whole subtree. A window whose base is
 * above its limit is closed. Secondary bus reset and the ISA/VGA enables are kept as plain bits.
 *
 * <p>INTx from behind the bridge is swizzled: device D's pin P arrives on the bridge's own slot as
 * pin ((P - 1 + D) mod 4) + 1 (the PCI-to-PCI Bridge Architecture spec's table), so a bridge full of
 * INTA devices spreads them over all four pins upstream.
 */
public final class PciBridge implements PciDevice {
    public static final int VENDOR_ID = 0x1b36;
    public static final int DEVICE_ID = 0x0001;
    public static final int CLASS_CODE = 0x060400;

    private final PciConfigSpace config;
    private final PciBus secondary;
    private final String name;
    private volatile PciFunction function;

    public PciBridge() {
        this(PciConfigSpace.bridge(VENDOR_ID, DEVICE_ID, CLASS_CODE, 0));
    }

    /**
     * A bridge with a config space of its own making (other ids, capabilities, a 4 KiB PCI Express
     * space as a root port has); it must be a type 1 header from {@link PciConfigSpace#bridge} or
     * {@link PciConfigSpace#expressBridge}.
     */
    public PciBridge(PciConfigSpace config) {
        this(config, "pci-bridge");
    }

    /** As {@link #PciBridge(PciConfigSpace)}, with the QEMU device name it is known by ({@code pcie-root-port}). */
    public PciBridge(PciConfigSpace config, String name) {
        this.name = name;
        if (config.headerType() != PciConfigSpace.HEADER_TYPE_BRIDGE) throw new IllegalArgumentException("a bridge needs a type 1 header");
        this.config = config;
        secondary = PciBus.secondaryOf(this);
        // Bus numbers change which bus the devices below decode on (and their numbering); windows and
        // enables change what reaches them.
        config.addWriteListener(PciConfigSpace.COMMAND, 2, (o, s) -> secondary.refreshBars());
        config.addWriteListener(PciConfigSpace.PRIMARY_BUS, 0x34 - PciConfigSpace.PRIMARY_BUS, (o, s) -> secondary.refreshBars());
    }

    @Override
    public PciConfigSpace configSpace() { return config; }

    /** The bus behind this bridge; attach devices here. */
    public PciBus secondaryBus() { return secondary; }

    /** Where this bridge is attached, or null before {@link PciBus#attach}. */
    public PciFunction function() { return function; }

    @Override
    public void attached(PciFunction function) {
        this.function = function;
    }

    public int primaryBusNumber() { return config.read(PciConfigSpace.PRIMARY_BUS, 1); }

    public int secondaryBusNumber() { return config.read(PciConfigSpace.SECONDARY_BUS, 1); }

    public int subordinateBusNumber() { return config.read(PciConfigSpace.SUBORDINATE_BUS, 1); }

    /** Whether a config cycle for {@code busNumber} goes through this bridge. Bus 0 is never behind a bridge. */
    boolean claims(int busNumber) {
        int sec = secondaryBusNumber();
        return sec != 0 && busNumber >= sec && busNumber <= subordinateBusNumber();
    }

    /** Whether this bridge forwards a downstream access to [addr, addr+size). */
    boolean forwardsDownstream(PciBar.Kind kind, long addr, long size) {
        int command = config.command();
        long last = addr + size - 1;
        if (kind == PciBar.Kind.IO) {
            if ((command & PciConfigSpace.COMMAND_IO) == 0) return false;
            return within(addr, last, ioBase(), ioLimit());
        }
        if ((command & PciConfigSpace.COMMAND_MEMORY) == 0) return false;
        return within(addr, last, memoryBase(), memoryLimit())
                || within(addr, last, prefetchableBase(), prefetchableLimit());
    }

    private static boolean within(long first, long last, long base, long limit) {
        return Long.compareUnsigned(base, limit) <= 0
                && Long.compareUnsigned(first, base) >= 0 && Long.compareUnsigned(last, limit) <= 0
                && Long.compareUnsigned(first, last) <= 0;
    }

    /** First port of the I/O window (4 KiB granular). */
    public long ioBase() { return (config.read(PciConfigSpace.IO_BASE, 1) & 0xF0L) << 8; }

    /** Last port of the I/O window. */
    public long ioLimit() { return ((config.read(PciConfigSpace.IO_LIMIT, 1) & 0xF0L) << 8) | 0xFFF; }

    /** First address of the memory window (1 MiB granular). */
    public long memoryBase() { return (config.read(PciConfigSpace.MEMORY_BASE, 2) & 0xFFF0L) << 16; }

    /** Last address of the memory window. */
    public long memoryLimit() { return ((config.read(PciConfigSpace.MEMORY_LIMIT, 2) & 0xFFF0L) << 16) | 0xF_FFFF; }

    public long prefetchableBase() {
        long upper = config.read(PciConfigSpace.PREFETCHABLE_BASE_UPPER, 4) & 0xFFFF_FFFFL;
        return (upper << 32) | ((config.read(PciConfigSpace.PREFETCHABLE_BASE, 2) & 0xFFF0L) << 16);
    }

    public long prefetchableLimit() {
        long upper = config.read(PciConfigSpace.PREFETCHABLE_LIMIT_UPPER, 4) & 0xFFFF_FFFFL;
        return (upper << 32) | ((config.read(PciConfigSpace.PREFETCHABLE_LIMIT, 2) & 0xFFF0L) << 16) | 0xF_FFFF;
    }

    /** The pin that device {@code slot}'s {@code pin} (1..4) appears as on the bridge's primary side. */
    public static int swizzle(int slot, int pin) {
        return ((pin - 1 + slot) & 3) + 1;
    }

    /** A bridge without BARs of its own: nothing is ever mapped here. */
    @Override
    public long barRead(int bar, long offset, int size) {
        return -1L;
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) { }

    @Override
    public String name() {
        return name;
    }
}
