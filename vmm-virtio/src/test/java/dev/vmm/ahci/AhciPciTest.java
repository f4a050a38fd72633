package dev.vmm.ahci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.chipset.pci.PciHostBridge;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller on a PCI bus at 00:1f.2 as the q35 recipe will put it: config cycles through
 * 0xCF8/0xCFC, the ABAR on the MMIO bus where the guest programs BAR5, the index/data pair on the
 * PIO bus at BAR4, INTx through the PIRQ router and MSI taking over from INTx.
 */
@Timeout(60)
class AhciPciTest {
    static final int SLOT = 0x1F, FN = 2;
    static final long ABAR = 0xFEBF_0000L;
    static final int IDP = 0xC040;

    final Bus pio = new Bus("pio");
    final Bus mmio = new Bus("mmio");
    final Map<Integer, Boolean> gsiLevels = new HashMap<>();
    final PciInterruptRouter router = PciInterruptRouter.pirq(gsi -> level -> gsiLevels.put(gsi, level), 10, 10, 11, 11);
    final PciBus root = PciBus.root(new PciPlatform(pio, mmio, router));

    int config(int reg) {
        pio.write(0xCF8, 4, 0x8000_0000L | SLOT << 11 | FN << 8 | (reg & 0xFC));
        return (int) pio.read(0xCFC, 4);
    }

    void config(int reg, int size, int value) {
        pio.write(0xCF8, 4, 0x8000_0000L | SLOT << 11 | FN << 8 | (reg & 0xFC));
        pio.write(0xCFC + (reg & 3), size, value & 0xFFFF_FFFFL);
    }

    int abar(int off) { return (int) mmio.read(ABAR + off, 4); }

    void abar(int off, int v) { mmio.write(ABAR + off, 4, v & 0xFFFF_FFFFL); }

    @Test
    void onTheBusWithIntxAndMsi() {
        new PciHostBridge(root).registerPorts(pio);
        List<long[]> msis = new ArrayList<>();
        try (TestRam ram = new TestRam(0, 16 << 20)) {
            MemoryDisk disk = new MemoryDisk(new byte[1 << 20], false);
            AhciController hba = new AhciController(ram.memory, AhciIo.inline(), (v, a, d) -> msis.add(new long[] {a, d}),
                    Arrays.asList(new AtaDisk(disk, AtaDisk.Config.of("P"))));
            PciFunction f = root.attach(SLOT, FN, hba);
            assertEquals(0x2922_8086, config(0x00));
            config(0x24, 4, (int) ABAR);
            config(0x20, 4, IDP);
            config(0x04, 2, 0x7); // I/O, memory, bus master
            assertEquals((int) ABAR, config(0x24));
            assertEquals(AhciController.CAP_VALUE, abar(AhciController.CAP), "ABAR decodes on the MMIO bus");
            // Index/data pair: the same registers through BAR4.
            pio.write(IDP + AhciController.IDP_INDEX, 4, AhciController.PI);
            assertEquals(0x3F, (int) pio.read(IDP + AhciController.IDP_DATA, 4));

            // A driver through the buses: reuse AhciDriver on the controller (same registers), check the line.
            AhciDriver driver = new AhciDriver(hba, ram.memory, 0x10000, 16 << 20);
            driver.resetHba();
            driver.enableInterrupts();
            AhciDriver.Port port = driver.port(0);
            port.start();
            long buf = driver.alloc(512, 512);
            disk.data[512] = 77;
            assertFalse(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 1, 1, 0, 0x40), false,
                    new long[] {buf, 512})).failed());
            assertEquals(77, ram.memory.readU8(buf));
            int gsi = router.gsiOf(f);
            assertTrue(router.isAsserted(gsi), "INTA# asserted through the router");
            assertTrue((config(0x04) >>> 16 & 0x08) != 0, "interrupt status bit in the PCI status register");
            abar(AhciController.PORT_BASE + AhciPort.IS, -1);
            assertFalse(router.isAsserted(gsi), "deasserted once PxIS is cleared");

            // MSI on: INTx stays low, a message per completion.
            int cap = hba.configSpace().findCapability(0x05);
            config(cap + 4, 4, 0xFEE0_1000);
            config(cap + 12, 2, 0x4023);
            config(cap + 2, 2, 1);
            assertFalse(port.issue(0, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 1, 1, 0, 0x40), false,
                    new long[] {buf, 512})).failed());
            assertFalse(router.isAsserted(gsi));
            assertEquals(1, msis.size());
            assertEquals(0xFEE0_1000L, msis.get(0)[0]);
            assertEquals(0x4023, msis.get(0)[1]);
            // Bus master off in the guest's command register: no DMA.
            config(0x04, 2, 0x3);
            assertTrue(port.issue(1, AhciDriver.Cmd.of(AhciDriver.h2d(AtaCommand.READ_DMA_EXT, 1, 1, 0, 0x40), false,
                    new long[] {buf, 512})).failed());
        }
    }
}
