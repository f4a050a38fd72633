package dev.vmm.firmware;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.config.ConfigException;
import dev.vmm.machine.PciSubsystem;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code --boot} parsing, CMOS codes and bootorder paths (PCI functions on a real root bus and bridge). */
class BootOptionsTest {
    @Test
    void parsesQemuSyntaxAndRefusesMistakesInOneLine() {
        BootOptions b = BootOptions.parse("order=dcn,menu=on,strict=on,reboot-timeout=2500,splash-time=100");
        assertEquals("dcn", b.order());
        assertTrue(b.menu());
        assertTrue(b.strict());
        assertEquals(2500, b.rebootTimeout());
        assertEquals(100, b.splashTime());
        assertEquals(0x23, b.cmos3d());
        assertEquals(0x40, b.cmos38());
        assertEquals("cd", BootOptions.parse("cd").order(), "QEMU's legacy '-boot cd'");
        assertEquals(BootOptions.DEFAULT, BootOptions.parse(null));
        for (String bad : List.of("order=cx", "order=cc", "order=acdn", "menu=maybe", "reboot-timeout=-2", "colour=red", "order=")) {
            ConfigException e = assertThrows(ConfigException.class, () -> BootOptions.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("--boot: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
    }

    static final class Fn implements PciDevice {
        final PciConfigSpace config;
        Fn(int vendor, int device, int cls) { config = PciConfigSpace.endpoint(vendor, device, cls, 0); }
        @Override public PciConfigSpace configSpace() { return config; }
        @Override public long barRead(int bar, long offset, int size) { return 0; }
        @Override public void barWrite(int bar, long offset, int size, long value) { }
    }

    @Test
    void pathsFollowTheBusTopologyAndSortByIndex() {
        PciSubsystem pci = new PciSubsystem(new Bus("pio"), new Bus("mmio"), g -> l -> { }, 1 << 30, LegacyNull.DEVICE);
        PciFunction blk = pci.root().attach(4, 0, new Fn(0x1af4, 0x1001, 0x010000));
        PciFunction ahci = pci.root().attach(0x1f, 2, new Fn(0x8086, 0x2922, 0x010601));
        dev.vmm.chipset.pci.PciBridge bridge = new dev.vmm.chipset.pci.PciBridge();
        pci.root().attach(0x1e, 0, bridge);
        PciFunction nic = bridge.secondaryBus().attach(3, 0, new Fn(0x1af4, 0x1000, 0x020000));
        BootOrder o = new BootOrder().add(nic, BootSource.virtioNet(9)).add(blk, BootSource.virtioBlk(2)).add(ahci, BootSource.ahci(0, 2));
        assertEquals(List.of("/pci@i0cf8/pci8086,2922@1f,2/drive@2/disk@0", "/pci@i0cf8/scsi@4/disk@0,0",
                "/pci@i0cf8/pci-bridge@1e/ethernet@3/ethernet-phy@0"), o.paths());
        assertEquals(String.join("\n", o.paths()) + "\0", new String(o.bytes(), StandardCharsets.US_ASCII));
        assertEquals("HALT", o.strict(true).paths().getLast());
        assertEquals(0, new BootOrder().bytes().length, "nothing listed: an empty file");
        ConfigException twice = assertThrows(ConfigException.class, () -> o.add(blk, BootSource.virtioBlk(9)));
        assertTrue(twice.getMessage().contains("bootindex=9"));
    }

    /** A reset-control stand-in for the PCI subsystem. */
    enum LegacyNull implements dev.vmm.chipset.bus.BusDevice {
        DEVICE;
        @Override public long read(long offset, int size) { return 0; }
        @Override public void write(long offset, int size, long value) { }
    }
}
