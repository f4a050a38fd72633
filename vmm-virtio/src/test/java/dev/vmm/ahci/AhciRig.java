package dev.vmm.ahci;

import dev.vmm.chipset.pci.PciConfigSpace;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A controller over test RAM with a driver and a record of MSI messages; shared by the AHCI tests. */
final class AhciRig implements AutoCloseable {
    static final long RAM_SIZE = 64L << 20;
    static final long ALLOC_BASE = 0x10000;

    final TestRam ram = new TestRam(0, RAM_SIZE);
    final List<long[]> msis = java.util.Collections.synchronizedList(new ArrayList<>());
    final AhciController hba;
    final AhciDriver driver;

    AhciRig(AhciIo io, AhciDrive... drives) {
        hba = new AhciController(ram.memory, io, (v, a, d) -> msis.add(new long[] {v, a, d}), Arrays.asList(drives));
        driver = new AhciDriver(hba, ram.memory, ALLOC_BASE, RAM_SIZE);
        driver.patienceNanos = 0; // commands run inline; a test with an I/O thread sets AhciDriver.PATIENCE_NANOS
    }

    /** Enables MSI as a guest does (address 0xFEE00000, data 0x4041) with bus mastering and memory decoding. */
    void enableMsi() {
        PciConfigSpace c = hba.configSpace();
        int cap = c.findCapability(0x05);
        hba.configWrite(cap + 4, 4, 0xFEE0_0000);
        hba.configWrite(cap + 8, 4, 0);
        hba.configWrite(cap + 12, 2, 0x4041);
        hba.configWrite(cap + 2, 2, 1);
        hba.configWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
    }

    /** A data buffer in guest RAM. */
    long buffer(long size) {
        return driver.alloc(size, 4096);
    }

    byte[] read(long gpa, int len) {
        byte[] b = new byte[len];
        ram.memory.read(gpa, b, 0, len);
        return b;
    }

    /** The HBA reset (GHC.HR) and port {@code n}'s engine started, as a driver brings a port up. */
    AhciDriver.Port startPort(int n) {
        driver.resetHba();
        AhciDriver.Port p = driver.port(n);
        p.start();
        return p;
    }

    @Override
    public void close() {
        ram.close();
    }
}
