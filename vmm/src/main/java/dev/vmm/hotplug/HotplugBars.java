package dev.vmm.hotplug;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciFunction;

import java.util.ArrayList;
import java.util.List;

/**
 * Gives a function plugged at run time BAR addresses, as firmware gave the start-up devices: on
 * the root bus the first naturally aligned gap of the machine's window that no BAR and no bridge
 * window uses; behind a bridge (a PCIe root port) inside that bridge's window, which the start-up
 * assignment reserved for it. A BAR that does not fit stays unassigned (address 0) for the guest
 * to assign. Nothing is kept: what is free is read from the buses each time, so an unplugged
 * device's ranges are free again as soon as it is off the bus.
 */
final class HotplugBars {
    private HotplugBars() {}

    /** A half-open range [start, end). */
    record Range(long start, long end) {
        boolean overlaps(long s, long e) { return s < end && start < e; }
    }

    /**
     * @param root  the root bus (every BAR and bridge window below it counts as used)
     * @param mmio  the root bus's 32-bit memory window, used when {@code f} is on the root bus
     * @param io    the root bus's I/O window
     */
    static void assign(PciFunction f, PciBus root, Range mmio, Range io) {
        PciConfigSpace c = f.configSpace();
        PciBridge upstream = f.bus().upstreamBridge();
        Range memWindow = upstream == null ? mmio : memoryWindow(upstream.configSpace());
        Range ioWindow = upstream == null ? io : ioWindow(upstream.configSpace());
        List<Range> used = used(root, f);
        int enable = 0;
        for (int i = 0; i < c.barCount(); i++) {
            PciBar bar = c.bar(i);
            if (bar == null) continue;
            boolean isIo = bar.kind() == PciBar.Kind.IO;
            long at = firstFit(isIo ? ioWindow : memWindow, bar.size(), used);
            if (at < 0) continue;
            c.setBarAddress(i, at);
            used.add(new Range(at, at + bar.size()));
            enable |= isIo ? PciConfigSpace.COMMAND_IO : PciConfigSpace.COMMAND_MEMORY;
        }
        if (enable != 0) c.updateBits(PciConfigSpace.COMMAND, 2, enable, true);
        f.refreshBars();
    }

    static long firstFit(Range window, long size, List<Range> used) {
        if (window == null) return -1;
        for (long at = align(window.start(), size); at + size <= window.end(); ) {
            long end = at + size;
            Range clash = null;
            for (Range r : used) if (r.overlaps(at, end)) { clash = r; break; }
            if (clash == null) return at;
            at = align(clash.end(), size);
        }
        return -1;
    }

    /** Every assigned BAR and every bridge window below {@code root}, except {@code self}'s BARs and its bridge's windows. */
    private static List<Range> used(PciBus root, PciFunction self) {
        List<Range> used = new ArrayList<>();
        for (PciFunction g : root.allFunctions()) {
            if (g == self) continue;
            PciConfigSpace c = g.configSpace();
            for (int i = 0; i < c.barCount(); i++) {
                PciBar bar = c.bar(i);
                long a = bar == null ? 0 : c.barAddress(i);
                if (a != 0) used.add(new Range(a, a + bar.size()));
            }
            if (g.device() instanceof PciBridge b && b != self.bus().upstreamBridge()) { // its own bridge's window is where it goes
                Range m = memoryWindow(b.configSpace());
                if (m != null) used.add(m);
                Range p = prefetchableWindow(b.configSpace());
                if (p != null) used.add(p);
                Range o = ioWindow(b.configSpace());
                if (o != null) used.add(o);
            }
        }
        return used;
    }

    /** The bridge's memory window (address bits 31:20 in bits 15:4), or null when closed. */
    static Range memoryWindow(PciConfigSpace c) {
        long base = (c.read(PciConfigSpace.MEMORY_BASE, 2) & 0xFFF0L) << 16;
        long limit = ((c.read(PciConfigSpace.MEMORY_LIMIT, 2) & 0xFFF0L) << 16) | 0xF_FFFFL;
        return base < limit ? new Range(base, limit + 1) : null;
    }

    static Range prefetchableWindow(PciConfigSpace c) {
        long base = (c.read(PciConfigSpace.PREFETCHABLE_BASE, 2) & 0xFFF0L) << 16
                | (c.read(PciConfigSpace.PREFETCHABLE_BASE_UPPER, 4) & 0xFFFF_FFFFL) << 32;
        long limit = ((c.read(PciConfigSpace.PREFETCHABLE_LIMIT, 2) & 0xFFF0L) << 16 | 0xF_FFFFL)
                | (c.read(PciConfigSpace.PREFETCHABLE_LIMIT_UPPER, 4) & 0xFFFF_FFFFL) << 32;
        return Long.compareUnsigned(base, limit) < 0 ? new Range(base, limit + 1) : null;
    }

    static Range ioWindow(PciConfigSpace c) {
        long base = (c.read(PciConfigSpace.IO_BASE, 1) & 0xF0L) << 8;
        long limit = ((c.read(PciConfigSpace.IO_LIMIT, 1) & 0xF0L) << 8) | 0xFFF;
        return base < limit ? new Range(base, limit + 1) : null;
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }
}
