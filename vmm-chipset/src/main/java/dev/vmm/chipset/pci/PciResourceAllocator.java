package dev.vmm.chipset.pci;

/**
 * Firmware-style resource assignment done by the VMM, for guests booted without firmware (direct
 * kernel boot): numbers the bridges depth first, places every BAR naturally aligned inside the
 * given windows, programs bridge windows around what sits behind them, and enables decoding.
 * Linux keeps such assignments as long as they are consistent, which avoids it guessing an MMIO
 * hole from e820.
 *
 * <p>Placement rules: I/O BARs in the I/O window; 64-bit prefetchable BARs in the 64-bit window
 * (when one is given); every other memory BAR in the 32-bit window, since a bridge's
 * non-prefetchable window is 32-bit only. Bridge windows are rounded to their granularity (4 KiB
 * for I/O, 1 MiB for memory); a bridge with nothing of a kind behind it gets that window closed.
 *
 * <p>PCI Express ports with a hot-plug slot get at least {@link #HOTPLUG_RESERVE} in both memory windows,
 * so a device plugged later fits.
 *
 * <p>Run it after attaching devices and before the guest starts; it writes registers device-side
 * and then re-evaluates every mapping once.
 */
public final class PciResourceAllocator {
    private static final long IO_GRANULE = 0x1000;
    private static final long MEMORY_GRANULE = 0x10_0000;
    /** Memory kept in a hot-plug slot's windows beyond what sits there now (SeaBIOS and Linux use 2 MiB too). */
    static final long HOTPLUG_RESERVE = 0x20_0000;

    private final long mmio32End;
    private final long mmio64End;
    private final long ioEnd;
    private long mmio32;
    private long mmio64;
    private long io;
    private int lastBus;

    /**
     * @param mmio32Base start of the 32-bit MMIO window (e.g. 0xC000_0000)
     * @param mmio32Size its size
     * @param mmio64Base start of the 64-bit window, or 0 with size 0 for none
     * @param ioBase     first I/O port PCI may use (e.g. 0x1000)
     * @param ioSize     number of ports
     */
    public PciResourceAllocator(long mmio32Base, long mmio32Size, long mmio64Base, long mmio64Size, long ioBase, long ioSize) {
        if (mmio32Size <= 0 || mmio32Base + mmio32Size > 1L << 32) throw new IllegalArgumentException("32-bit window must lie below 4 GiB");
        if (ioBase < 0 || ioSize < 0 || ioBase + ioSize > 0x1_0000) throw new IllegalArgumentException("I/O window outside 64 KiB");
        if (mmio64Size < 0) throw new IllegalArgumentException("negative 64-bit window");
        this.mmio32 = mmio32Base;
        this.mmio32End = mmio32Base + mmio32Size;
        this.mmio64 = mmio64Base;
        this.mmio64End = mmio64Base + mmio64Size;
        this.io = ioBase;
        this.ioEnd = ioBase + ioSize;
    }

    /**
     * Assigns everything below {@code root}. Returns the highest bus number used.
     *
     * @throws IllegalStateException if a window is too small for what is attached
     */
    public int assign(PciBus root) {
        if (!root.isRoot()) throw new IllegalArgumentException("start from the root bus");
        lastBus = 0;
        numberBuses(root, 0);
        assignBus(root);
        root.refreshBars();
        return lastBus;
    }

    private void numberBuses(PciBus bus, int number) {
        for (PciFunction f : bus.functions()) {
            if (!(f.device() instanceof PciBridge bridge)) continue;
            if (lastBus == 0xFF) throw new IllegalStateException("more than 255 bridges");
            PciConfigSpace c = bridge.configSpace();
            int secondary = ++lastBus;
            c.setByte(PciConfigSpace.PRIMARY_BUS, number);
            c.setByte(PciConfigSpace.SECONDARY_BUS, secondary);
            c.setByte(PciConfigSpace.SUBORDINATE_BUS, 0xFF);
            numberBuses(bridge.secondaryBus(), secondary);
            c.setByte(PciConfigSpace.SUBORDINATE_BUS, lastBus);
        }
    }

    private void assignBus(PciBus bus) {
        for (PciFunction f : bus.functions()) {
            if (f.device() instanceof PciBridge bridge) {
                assignBridge(bridge);
                continue;
            }
            PciConfigSpace c = f.configSpace();
            int enable = 0;
            for (int i = 0; i < c.barCount(); i++) {
                PciBar bar = c.bar(i);
                if (bar == null) continue;
                c.setBarAddress(i, place(bar));
                enable |= bar.kind() == PciBar.Kind.IO ? PciConfigSpace.COMMAND_IO : PciConfigSpace.COMMAND_MEMORY;
            }
            if (enable != 0) c.updateBits(PciConfigSpace.COMMAND, 2, enable, true);
        }
    }

    private void assignBridge(PciBridge bridge) {
        alignWindows();
        long ioStart = io, memStart = mmio32, prefStart = mmio64;
        assignBus(bridge.secondaryBus());
        if (hotPlugCapable(bridge)) {
            // Room for a device plugged later (firmware reserves for hot-plug slots too): the OS
            // cannot grow a bridge window it did not assign itself.
            mmio32 = Math.max(mmio32, memStart + HOTPLUG_RESERVE);
            if (mmio64End > 0) mmio64 = Math.max(mmio64, prefStart + HOTPLUG_RESERVE);
        }
        alignWindows();
        check();
        PciConfigSpace c = bridge.configSpace();
        // I/O base/limit: address bits 15:12 in bits 7:4 of a byte (4 KiB granules).
        window(c, PciConfigSpace.IO_BASE, PciConfigSpace.IO_LIMIT, 1, 8, ioStart, io, 0);
        // Memory base/limit: address bits 31:20 in bits 15:4 of a word (1 MiB granules).
        window(c, PciConfigSpace.MEMORY_BASE, PciConfigSpace.MEMORY_LIMIT, 2, 16, memStart, mmio32, 0);
        // Prefetchable: the same, type 1 (64-bit), address bits 63:32 in the upper registers.
        window(c, PciConfigSpace.PREFETCHABLE_BASE, PciConfigSpace.PREFETCHABLE_LIMIT, 2, 16, prefStart, mmio64, 1);
        boolean pref = mmio64 > prefStart;
        c.setDword(PciConfigSpace.PREFETCHABLE_BASE_UPPER, pref ? (int) (prefStart >>> 32) : 0);
        c.setDword(PciConfigSpace.PREFETCHABLE_LIMIT_UPPER, pref ? (int) ((mmio64 - 1) >>> 32) : 0);
        c.updateBits(PciConfigSpace.COMMAND, 2,
                PciConfigSpace.COMMAND_IO | PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER, true);
    }

    /** Rounds the next free I/O and memory addresses up to bridge window granules. */
    private void alignWindows() {
        io = align(io, IO_GRANULE);
        mmio32 = align(mmio32, MEMORY_GRANULE);
        if (mmio64End > 0) mmio64 = align(mmio64, MEMORY_GRANULE);
    }

    /**
     * Programs one bridge window, base and limit registers of {@code bytes} bytes each holding the
     * address bits from {@code shift} up (the low nibble is the type, {@code typeBits}); an empty
     * window ({@code end <= start}) is closed by a base above the limit.
     */
    private static void window(PciConfigSpace c, int baseReg, int limitReg, int bytes, int shift, long start, long end,
                               int typeBits) {
        int mask = bytes == 1 ? 0xF0 : 0xFFF0;
        int base = end > start ? (int) (start >>> shift) & mask : mask;
        int limit = end > start ? (int) ((end - 1) >>> shift) & mask : 0;
        if (bytes == 1) {
            c.setByte(baseReg, base | typeBits);
            c.setByte(limitReg, limit | typeBits);
        } else {
            c.setWord(baseReg, base | typeBits);
            c.setWord(limitReg, limit | typeBits);
        }
    }

    /** Whether the bridge is a PCI Express port whose slot advertises hot-plug (slot capabilities bit 6). */
    static boolean hotPlugCapable(PciBridge bridge) {
        PciConfigSpace c = bridge.configSpace();
        int exp = c.findCapability(0x10);
        if (exp < 0) return false;
        boolean slotImplemented = (c.read(exp + 0x02, 2) & 0x0100) != 0;
        return slotImplemented && (c.read(exp + 0x14, 4) & 0x40) != 0;
    }

    private long place(PciBar bar) {
        long addr;
        if (bar.kind() == PciBar.Kind.IO) {
            addr = align(io, bar.size());
            io = addr + bar.size();
        } else if (bar.kind() == PciBar.Kind.MEMORY64 && bar.prefetchable() && mmio64End > 0) {
            addr = align(mmio64, bar.size());
            mmio64 = addr + bar.size();
        } else {
            addr = align(mmio32, bar.size());
            mmio32 = addr + bar.size();
        }
        check();
        return addr;
    }

    private void check() {
        if (io > ioEnd) throw new IllegalStateException("PCI I/O window exhausted");
        if (mmio32 > mmio32End) throw new IllegalStateException("PCI 32-bit MMIO window exhausted");
        if (mmio64End > 0 && Long.compareUnsigned(mmio64, mmio64End) > 0) throw new IllegalStateException("PCI 64-bit MMIO window exhausted");
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }
}
