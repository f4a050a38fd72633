package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;

import java.util.Arrays;

/**
 * A {@link PciDevice} attached at a device/function number of a {@link PciBus}: the glue that turns
 * config writes into bus mappings and INTx assertions into routed interrupt levels.
 *
 * <p>BAR mapping: after every guest write to the command register or a BAR register the wanted
 * placement of each BAR is recomputed; a BAR decodes only when its command bit (I/O or memory) is
 * set, its address is non-zero, not in the middle of sizing, fits its address space, lies inside
 * the platform windows and is forwarded by every bridge above. When the placement changes the old
 * range is unregistered from the PIO/MMIO {@link Bus} and the new one registered, then the device
 * and the platform's {@link BarListener} are told. A placement that cannot be mapped (outside the
 * windows, overlapping another range) is logged once and left unmapped; the guest simply reads all
 * ones there, as on real hardware with a misprogrammed BAR.
 */
public final class PciFunction {
    private static final System.Logger LOG = System.getLogger(PciFunction.class.getName());

    private final PciBus bus;
    private final int slot;
    private final int function;
    private final PciDevice device;
    private final PciConfigSpace config;
    private final long[] mapped;
    private final BarRegion[] regions;
    private final long[] lastRejected;
    private boolean intxLevel;
    private boolean intxDriven;
    private final InterruptLine intx = this::setIntx;

    PciFunction(PciBus bus, int slot, int function, PciDevice device) {
        this.bus = bus;
        this.slot = slot;
        this.function = function;
        this.device = device;
        this.config = device.configSpace();
        int n = config.barCount();
        this.mapped = new long[n];
        this.lastRejected = new long[n];
        Arrays.fill(mapped, PciBar.UNMAPPED);
        Arrays.fill(lastRejected, PciBar.UNMAPPED);
        this.regions = new BarRegion[n];
        for (int i = 0; i < n; i++) regions[i] = new BarRegion(i);
        config.addWriteListener(PciConfigSpace.COMMAND, 2, (o, s) -> {
            refreshBars();
            refreshIntx();
        });
        config.addWriteListener(PciConfigSpace.BAR0, 4 * n, (o, s) -> refreshBars());
    }

    public PciBus bus() { return bus; }

    /** Device number on its bus, 0..31. */
    public int slot() { return slot; }

    /** Function number, 0..7. */
    public int function() { return function; }

    public PciDevice device() { return device; }

    public PciConfigSpace configSpace() { return config; }

    /** "bb:dd.f" with the bus number as currently programmed. */
    public String address() {
        return String.format("%02x:%02x.%x", bus.number(), slot, function);
    }

    /** Where BAR {@code index} currently decodes, or {@link PciBar#UNMAPPED}. */
    public synchronized long barAddress(int index) {
        return mapped[index];
    }

    /**
     * The function's INTx# line (the pin in its config space, routed through bridge swizzles and
     * the platform router). Honours command bit 10 (interrupt disable) and mirrors the level in
     * status bit 3. Levels of devices sharing an IOAPIC input are ORed.
     */
    public InterruptLine intx() {
        return intx;
    }

    // ---------------------------------------------------------------- INTx

    private synchronized void setIntx(boolean level) {
        intxLevel = level;
        refreshIntx();
    }

    private synchronized void refreshIntx() {
        config.updateBits(PciConfigSpace.STATUS, 2, PciConfigSpace.STATUS_INTERRUPT, intxLevel);
        boolean drive = intxLevel && (config.command() & PciConfigSpace.COMMAND_INTX_DISABLE) == 0;
        if (drive == intxDriven) return;
        int pin = config.interruptPin();
        if (pin == 0) return;
        PciInterruptRouter.Target target = bus.intxTarget(slot, pin);
        if (target == null) return;                     // not (yet) below a root bus
        target.router().drive(this, target.rootSlot(), target.rootPin(), drive);
        intxDriven = drive;
    }

    // ---------------------------------------------------------------- BAR mapping

    /** Recomputes every BAR placement and moves bus ranges accordingly. */
    public void refreshBars() {
        PciPlatform platform = bus.platform();
        for (int i = 0; i < mapped.length; i++) {
            PciBar bar = config.bar(i);
            if (bar == null) continue;
            long oldAddress;
            long newAddress;
            synchronized (this) {
                oldAddress = mapped[i];
                long wanted = platform == null ? PciBar.UNMAPPED : wantedAddress(platform, i, bar);
                if (wanted == oldAddress) continue;
                Bus target = bar.kind() == PciBar.Kind.IO ? platform.pio() : platform.mmio();
                if (oldAddress != PciBar.UNMAPPED) target.unregister(oldAddress, regions[i]);
                newAddress = wanted;
                if (wanted != PciBar.UNMAPPED) {
                    try {
                        target.register(wanted, bar.size(), regions[i]);
                    } catch (IllegalArgumentException e) {
                        reject(i, wanted, e.getMessage());
                        newAddress = PciBar.UNMAPPED;
                    }
                }
                mapped[i] = newAddress;
                if (newAddress == oldAddress) continue;
            }
            device.barMoved(i, oldAddress, newAddress);
            platform.barListener().barMoved(this, i, oldAddress, newAddress);
        }
    }

    private long wantedAddress(PciPlatform platform, int index, PciBar bar) {
        int command = config.command();
        boolean decode = bar.kind() == PciBar.Kind.IO
                ? (command & PciConfigSpace.COMMAND_IO) != 0
                : (command & PciConfigSpace.COMMAND_MEMORY) != 0;
        if (!decode || config.barBeingSized(index)) return PciBar.UNMAPPED;
        long address = config.barAddress(index);
        if (address == 0) return PciBar.UNMAPPED;       // unassigned by convention
        long size = bar.size();
        long limit = switch (bar.kind()) {
            case IO -> 0x1_0000L;
            case MEMORY32 -> 1L << 32;
            case MEMORY64 -> 0;                         // 2^64: only wrap-around is invalid
        };
        boolean fits = limit == 0
                ? Long.compareUnsigned(address + size, address) > 0
                : address + size <= limit;
        if (!fits || !platform.allows(bar.kind(), address, size)) {
            reject(index, address, "outside the platform's " + (bar.kind() == PciBar.Kind.IO ? "I/O" : "MMIO") + " windows");
            return PciBar.UNMAPPED;
        }
        // Behind a bridge whose windows do not cover it: normal while the guest is still assigning
        // resources, so not worth a log line.
        if (!bus.forwards(bar.kind(), address, size)) return PciBar.UNMAPPED;
        return address;
    }

    private void reject(int index, long address, String why) {
        if (lastRejected[index] == address) return;     // one line per bad placement, not per write
        lastRejected[index] = address;
        LOG.log(System.Logger.Level.WARNING, "PCI {0} {1} BAR{2} at 0x{3} not mapped: {4}",
                address(), device.name(), index, Long.toHexString(address), why);
    }

    /** Unmaps every BAR (hot-unplug, or the device going away). */
    synchronized void unmapAll() {
        PciPlatform platform = bus.platform();
        if (platform == null) return;
        for (int i = 0; i < mapped.length; i++) {
            if (mapped[i] == PciBar.UNMAPPED) continue;
            PciBar bar = config.bar(i);
            (bar.kind() == PciBar.Kind.IO ? platform.pio() : platform.mmio()).unregister(mapped[i], regions[i]);
            long old = mapped[i];
            mapped[i] = PciBar.UNMAPPED;
            device.barMoved(i, old, PciBar.UNMAPPED);
            platform.barListener().barMoved(this, i, old, PciBar.UNMAPPED);
        }
    }

    /** The bus-side face of one BAR: forwards accesses to the device with the BAR index. */
    private final class BarRegion implements BusDevice {
        private final int index;

        BarRegion(int index) { this.index = index; }

        @Override
        public long read(long offset, int size) {
            return device.barRead(index, offset, size);
        }

        @Override
        public void write(long offset, int size, long value) {
            device.barWrite(index, offset, size, value);
        }

        @Override
        public String toString() {
            return address() + " " + device.name() + " BAR" + index;
        }
    }

    @Override
    public String toString() {
        return address() + " " + device.name();
    }
}
