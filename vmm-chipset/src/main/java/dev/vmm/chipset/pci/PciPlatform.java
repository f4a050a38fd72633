package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What the root of a PCI hierarchy maps into: the machine's port I/O and MMIO buses, the INTx
 * router, a listener for BAR moves, and optionally the address windows BARs may occupy.
 *
 * <p>Windows keep a guest from placing a BAR over RAM, the IOAPIC/LAPIC or the legacy ports the
 * chipset serves: if any window of a kind is declared, a BAR of that kind maps only when it lies
 * entirely inside one. With none declared, any address that fits the address space is allowed.
 */
public final class PciPlatform {
    private record Window(long base, long size) {
        boolean contains(long addr, long len) {
            return Long.compareUnsigned(addr, base) >= 0 && Long.compareUnsigned(len, size) <= 0
                    && Long.compareUnsigned(addr - base, size - len) <= 0;
        }
    }

    private final Bus pio;
    private final Bus mmio;
    private final PciInterruptRouter router;
    private final List<Window> ioWindows = new ArrayList<>();
    private final List<Window> mmioWindows = new ArrayList<>();
    private volatile BarListener barListener = BarListener.NONE;

    public PciPlatform(Bus pio, Bus mmio, PciInterruptRouter router) {
        this.pio = Objects.requireNonNull(pio, "pio");
        this.mmio = Objects.requireNonNull(mmio, "mmio");
        this.router = Objects.requireNonNull(router, "router");
    }

    public Bus pio() { return pio; }

    public Bus mmio() { return mmio; }

    public PciInterruptRouter router() { return router; }

    public BarListener barListener() { return barListener; }

    /** Sets the listener told about every BAR move (one; the VMM fans out itself). */
    public PciPlatform barListener(BarListener listener) {
        this.barListener = Objects.requireNonNull(listener);
        return this;
    }

    /** Allows memory BARs in [base, base+size), e.g. the 32-bit PCI hole or a 64-bit window above RAM. */
    public synchronized PciPlatform mmioWindow(long base, long size) {
        if (size <= 0) throw new IllegalArgumentException("empty MMIO window");
        mmioWindows.add(new Window(base, size));
        return this;
    }

    /** Allows I/O BARs in [base, base+size) of the 64 KiB port space. */
    public synchronized PciPlatform ioWindow(long base, long size) {
        if (size <= 0 || base < 0 || base + size > 0x1_0000) throw new IllegalArgumentException("I/O window outside 64 KiB");
        ioWindows.add(new Window(base, size));
        return this;
    }

    /** Whether a BAR of {@code kind} may decode [addr, addr+size). */
    synchronized boolean allows(PciBar.Kind kind, long addr, long size) {
        List<Window> windows = kind == PciBar.Kind.IO ? ioWindows : mmioWindows;
        if (windows.isEmpty()) return true;
        for (Window w : windows) if (w.contains(addr, size)) return true;
        return false;
    }
}
