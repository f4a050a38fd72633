package dev.vmm.virtio.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.chipset.pci.PciHostBridge;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A machine for transport tests: PIO and MMIO buses, a root PCI bus behind an i440FX host bridge
 * (config mechanism #1), a PIRQ router recording GSI levels, 1 MiB of RAM at 0, and a
 * {@link VirtioPciDevice} around a {@link FakeVirtioDevice} at 00:03.0. Config cycles go through
 * ports 0xCF8/0xCFC and BAR accesses through the MMIO bus, as a guest's would.
 */
final class PciRig implements AutoCloseable {
    static final int SLOT = 3;
    static final long RAM_SIZE = 1 << 20;

    final Arena arena = Arena.ofShared();                 // device threads in the concurrency tests touch RAM too
    final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM_SIZE, 4096))));
    final Bus pio = new Bus("pio");
    final Bus mmio = new Bus("mmio");
    final Map<Integer, Boolean> gsiLevels = new HashMap<>();
    final PciInterruptRouter router = PciInterruptRouter.pirq(gsi -> level -> gsiLevels.put(gsi, level), 10, 10, 11, 11);
    final PciBus root = PciBus.root(new PciPlatform(pio, mmio, router));
    final List<String> msis = new ArrayList<>();
    final FakeVirtioDevice device = new FakeVirtioDevice();
    final VirtioPciDevice transport = new VirtioPciDevice(device, memory,
            (vector, address, data) -> msis.add(vector + "@" + Long.toHexString(address) + "=" + Integer.toHexString(data)),
            MsixListener.NONE);
    final PciFunction function;

    PciRig() {
        new PciHostBridge(root).registerPorts(pio);
        function = root.attach(SLOT, 0, transport);
    }

    int configRead(int reg, int size) {
        pio.write(0xCF8, 4, (0x8000_0000L | SLOT << 11 | (reg & 0xFC)));
        return (int) pio.read(0xCFC + (reg & 3), size);
    }

    void configWrite(int reg, int size, int value) {
        pio.write(0xCF8, 4, (0x8000_0000L | SLOT << 11 | (reg & 0xFC)));
        pio.write(0xCFC + (reg & 3), size, value & 0xFFFF_FFFFL);
    }

    /** Places BAR4/5 at {@code address} and turns on memory decoding and bus mastering. */
    void mapBar(long address) {
        configWrite(0x10 + 4 * VirtioPciDevice.BAR, 4, (int) address);
        configWrite(0x14 + 4 * VirtioPciDevice.BAR, 4, (int) (address >>> 32));
        configWrite(0x04, 2, 0x6);
    }

    /** The level of this function's INTx line as the router sees it. */
    boolean intxAsserted() {
        return router.isAsserted(router.gsiOf(function));
    }

    @Override
    public void close() {
        arena.close();
    }
}
