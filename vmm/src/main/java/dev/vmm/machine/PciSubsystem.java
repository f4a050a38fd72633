package dev.vmm.machine;

import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciHostBridge;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.chipset.pci.PciResourceAllocator;

import java.util.List;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * The machine's PCI: an i440FX-style host bridge on 0xCF8/0xCFC, the root bus, INTx routed one
 * IOAPIC input per slot group (GSIs 16-23, level, shared modulo 8), and the address windows BARs
 * may use. There is no firmware, so {@link #assignResources()} does what a BIOS would: bus numbers,
 * BARs and bridge windows, and the interrupt line registers.
 */
public final class PciSubsystem {
    /** The 32-bit window: from the start of the MMIO hole up to the IOAPIC. */
    public static final long MMIO32_BASE = X86Layout.MMIO_HOLE_START;
    public static final long MMIO32_SIZE = X86Layout.IOAPIC_ADDR - X86Layout.MMIO_HOLE_START;
    public static final long IO_BASE = 0xC000, IO_SIZE = 0x4000;
    public static final long MMIO64_SIZE = 32L << 30;
    /** PCI INTx use the IOAPIC inputs above the ISA range. */
    public static final int FIRST_PCI_GSI = 16, PCI_GSIS = 8;

    private final PciPlatform platform;
    private final PciBus root;
    private final PciHostBridge host;
    private final PciInterruptRouter router;
    private final long mmio64Base;

    /** The pc variant: the i440FX-style host function at 00:00.0 and one GSI per slot group. */
    public PciSubsystem(Bus pio, Bus mmio, IntFunction<InterruptLine> gsiLines, long ramEnd, BusDevice resetControl) {
        this(pio, mmio, ramEnd, perSlotGroup(gsiLines), PciHostBridge::new, resetControl);
    }

    /** The pc variant with {@code hostFunction} at 00:00.0 (the i440FX PMC with PAM registers, for firmware boot). */
    public PciSubsystem(Bus pio, Bus mmio, IntFunction<InterruptLine> gsiLines, long ramEnd, BusDevice resetControl,
                        dev.vmm.chipset.pci.PciDevice hostFunction) {
        this(pio, mmio, ramEnd, perSlotGroup(gsiLines), root -> new PciHostBridge(root, hostFunction), resetControl);
    }

    /**
     * A variant whose host bridge (with its function at 00:00.0, e.g. the Q35 MCH) and INTx routing
     * are the machine's.
     *
     * @param hostBridge creates the host bridge over the root bus
     */
    public PciSubsystem(Bus pio, Bus mmio, long ramEnd, PciInterruptRouter router, Function<PciBus, PciHostBridge> hostBridge,
                        BusDevice resetControl) {
        this.router = router;
        mmio64Base = Math.max(X86Layout.RAM_ABOVE_4G_START, (ramEnd + (1L << 30) - 1) & -(1L << 30));
        platform = new PciPlatform(pio, mmio, router)
                .mmioWindow(MMIO32_BASE, MMIO32_SIZE)
                .mmioWindow(mmio64Base, MMIO64_SIZE)
                .ioWindow(IO_BASE, IO_SIZE);
        root = PciBus.root(platform);
        host = hostBridge.apply(root);
        // 0xCF9 (reset control) lives inside the CONFIG_ADDRESS dword: byte accesses at offset 1 are its.
        host.setNarrowAddressPortAccess(new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return offset == 1 && size == 1 ? resetControl.read(0, 1) : (1L << (size * 8)) - 1;
            }

            @Override
            public void write(long offset, int size, long value) {
                if (offset == 1 && size == 1) resetControl.write(0, 1, value);
            }
        });
        host.registerPorts(pio);
    }

    private static PciInterruptRouter perSlotGroup(IntFunction<InterruptLine> gsiLines) {
        int[] gsiBySlot = new int[32];
        for (int s = 0; s < 32; s++) gsiBySlot[s] = FIRST_PCI_GSI + (s % PCI_GSIS);
        return PciInterruptRouter.perSlot(gsiLines, gsiBySlot);
    }

    public PciBus root() { return root; }

    /** The 0xCF8/0xCFC host bridge (config accesses as the guest makes them). */
    public PciHostBridge host() { return host; }

    /** Base of the 64-bit BAR window (above RAM). */
    public long mmio64Base() { return mmio64Base; }

    public PciPlatform platform() { return platform; }

    public PciInterruptRouter router() { return router; }

    /** Assigns bus numbers, BARs, windows and interrupt lines, as firmware would before the OS starts. */
    public void assignResources() {
        new PciResourceAllocator(MMIO32_BASE, MMIO32_SIZE, mmio64Base, MMIO64_SIZE, IO_BASE, IO_SIZE).assign(root);
        router.assignInterruptLines(root);
    }

    /** INTx routes of occupied root slots, for the MP table. */
    public List<PciInterruptRouter.Route> mpRoutes() {
        return router.routes(root);
    }
}
