package dev.vmm.usb.xhci;

import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.MsixListener;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/** A controller over test RAM, a driver, a manual clock, and records of MSI-X messages and the INTx level. */
final class XhciRig implements AutoCloseable {
    static final long RAM_SIZE = 16L << 20;

    final TestRam ram = new TestRam(RAM_SIZE);
    final ManualClock clock = new ManualClock();
    final List<Integer> msis = Collections.synchronizedList(new ArrayList<>());
    final AtomicBoolean intx = new AtomicBoolean();
    final XhciController hc;
    final XhciDriver driver;

    XhciRig() {
        this(false);
    }

    XhciRig(boolean contexts64) {
        hc = new XhciController(ram.memory, (v, a, d) -> msis.add(v), MsixListener.NONE, clock, contexts64);
        hc.setIntx(intx::set);
        hc.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
        driver = new XhciDriver(hc, ram.memory, 0x10000, RAM_SIZE, contexts64 ? 64 : 32);
    }

    /** Turns MSI-X on with every vector unmasked. */
    void enableMsix() {
        int cap = hc.configSpace().findCapability(0x11);
        for (int v = 0; v < 16; v++) {
            long entry = XhciController.MSIX_TABLE + 16L * v;
            hc.barWrite(0, entry, 4, 0xFEE0_0000L);
            hc.barWrite(0, entry + 8, 4, 0x40 + v);
            hc.barWrite(0, entry + 12, 4, 0);
        }
        hc.configWrite(cap + 2, 2, 0x8000);
    }

    @Override
    public void close() {
        ram.close();
    }
}
