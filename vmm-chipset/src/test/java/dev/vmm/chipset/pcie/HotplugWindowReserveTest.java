package dev.vmm.chipset.pcie;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.chipset.pci.PciResourceAllocator;
import dev.vmm.chipset.q35.PcieRootPort;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Firmware-style assignment keeps room in an empty hot-plug root port's windows; a plain empty bridge gets none. */
class HotplugWindowReserveTest {
    @Test
    void emptyHotplugPortsKeepTwoMebibytesPlainBridgesNothing() {
        PciBus root = PciBus.root(new PciPlatform(new Bus("pio"), new Bus("mmio"), PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11)));
        PcieRootPort port1 = new PcieRootPort(1, 0), port2 = new PcieRootPort(2, 1);
        PciBridge plain = new PciBridge();
        root.attach(1, 0, port1.bridge());
        root.attach(2, 0, plain);
        root.attach(3, 0, port2.bridge());
        int last = new PciResourceAllocator(0xC000_0000L, 0x3EC0_0000L, 0x80_0000_0000L, 1L << 36, 0x1000, 0xF000).assign(root);
        assertThat(last).isEqualTo(3);
        for (PcieRootPort p : new PcieRootPort[] {port1, port2}) {
            PciBridge b = p.bridge();
            assertThat(b.memoryLimit() - b.memoryBase() + 1).isEqualTo(2L << 20);
            assertThat(b.prefetchableLimit() - b.prefetchableBase() + 1).isEqualTo(2L << 20);
            assertThat(b.ioBase()).as("no I/O reserved (16 KiB of ports would last four ports)").isGreaterThan(b.ioLimit());
        }
        assertThat(Long.compareUnsigned(plain.memoryBase(), plain.memoryLimit())).as("plain bridge window closed").isPositive();
        assertThat(port2.bridge().memoryBase()).as("windows do not overlap").isGreaterThan(port1.bridge().memoryLimit());
    }
}
