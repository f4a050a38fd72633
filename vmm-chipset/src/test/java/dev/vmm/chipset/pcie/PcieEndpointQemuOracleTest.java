package dev.vmm.chipset.pcie;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.pci.PciPlatform;
import dev.vmm.chipset.q35.PcieRootPort;
import dev.vmm.chipset.q35.Q35Mch;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.chipset.testing.RecordingLine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A virtio function behind a PCIe root port, QEMU 7.2 ({@code virtio-blk-pci} on a
 * {@code pcie-root-port} of q35, through qtest) against an endpoint carrying
 * {@link PcieEndpointCapability}: the PCI Express capability's registers (device capabilities bit
 * 28, Function Level Reset, masked: QEMU claims FLR, this model has none), which of its control bits
 * the guest can write, the Power Management capability, and the empty extended space at 0x100
 * (through ECAM). Both sides get the bus numbers firmware would give (root port secondary bus 1).
 */
class PcieEndpointQemuOracleTest {
    static final int PORT_SLOT = 2;
    static final long ECAM = 0xb000_0000L;

    interface Side {
        long cfg(int bus, int reg, int size);
        void cfgWrite(int bus, int reg, int size, long value);
        long mmioRead(long addr);
    }

    static List<String> script(Side s) {
        // Firmware's part: the MCH's ECAM window, the port's bus numbers.
        s.cfgWrite(0, 0x60, 4, ECAM | 1);
        s.cfgWrite(0, 0x64, 4, 0);
        s.cfgWrite(-1, PciConfigSpace.PRIMARY_BUS, 4, 0x00_01_01_00);
        List<String> out = new ArrayList<>();
        out.add("ids " + hex(s.cfg(1, 0, 4)) + " status " + hex(s.cfg(1, PciConfigSpace.STATUS, 2)));
        int exp = -1, pm = -1;
        int p = (int) s.cfg(1, 0x34, 1) & ~3;
        for (int guard = 0; p >= 0x40 && guard < 48; guard++) {
            int id = (int) s.cfg(1, p, 1);
            if (id == PcieEndpointCapability.EXP_CAP_ID) exp = p;
            if (id == PcieEndpointCapability.PM_CAP_ID) pm = p;
            p = (int) s.cfg(1, p + 1, 1) & ~3;
        }
        out.add("exp " + (exp > 0) + " pm " + (pm > 0));
        if (exp < 0 || pm < 0) return out;
        for (int o = 2; o < PcieEndpointCapability.EXP_CAP_SIZE; o += 2) {
            long v = s.cfg(1, exp + o, 2);
            if (o == PcieEndpointCapability.DEVCAP + 2) v &= ~(1 << 12);   // FLR capable (bit 28 of DEVCAP)
            out.add("exp+" + hex(o) + " " + hex(v));
        }
        for (int reg : new int[] {PcieEndpointCapability.DEVCTL, PcieEndpointCapability.LNKCTL,
                PcieEndpointCapability.DEVCTL2, PcieEndpointCapability.LNKCTL2}) {
            s.cfgWrite(1, exp + reg, 2, 0x7fff);   // bit 15 of DEVCTL would initiate an FLR
            out.add("exp+" + hex(reg) + " after writing 7fff: " + hex(s.cfg(1, exp + reg, 2)));
            s.cfgWrite(1, exp + reg, 2, 0);
        }
        out.add("pm " + hex(s.cfg(1, pm + 2, 2)) + " " + hex(s.cfg(1, pm + 4, 4)));
        s.cfgWrite(1, pm + 4, 2, 3);
        out.add("pmcsr after D3hot " + hex(s.cfg(1, pm + 4, 2) & 3));
        s.cfgWrite(1, pm + 4, 2, 0);
        out.add("extended space 0x100 " + hex(s.mmioRead(ECAM | 1 << 20 | 0x100)));
        return out;
    }

    static String hex(long v) { return Long.toHexString(v); }

    /** Config cycle address: bus -1 means the root port itself (00:02.0). */
    static long address(int bus, int reg) {
        int b = Math.max(bus, 0), dev = bus < 0 ? PORT_SLOT : 0;
        return 0x8000_0000L | b << 16 | dev << 11 | (reg & 0xfc);
    }

    @Test
    @Timeout(60)
    void virtioEndpointBehindARootPortMatchesQemu() throws Exception {
        QemuQtest.assumeInstalled();
        java.nio.file.Path img = java.nio.file.Files.createTempFile("pcie-ep", ".img");
        java.nio.file.Path img2 = java.nio.file.Files.createTempFile("pcie-ep", ".img");
        List<String> qemuSide;
        boolean qemuRootBusExpress;
        try {
            java.nio.file.Files.write(img, new byte[1 << 20]);
            java.nio.file.Files.write(img2, new byte[1 << 20]);
            try (QemuQtest q = QemuQtest.start("-M", "q35,smm=off", "-m", "512",
                    "-device", "pcie-root-port,id=rp1,chassis=1,slot=1,addr=02.0",
                    "-drive", "if=none,id=d0,format=raw,file=" + img, "-device", "virtio-blk-pci,drive=d0,bus=rp1",
                    "-drive", "if=none,id=d1,format=raw,file=" + img2, "-device", "virtio-blk-pci,drive=d1,addr=03.0")) {
                Side qemu = new Side() {
                    public long cfg(int bus, int reg, int size) {
                        return bus == 0 && reg < 0 ? 0 : q.cfgRead(Math.max(bus, 0), bus < 0 ? PORT_SLOT : 0, 0, reg, size);
                    }
                    public void cfgWrite(int bus, int reg, int size, long value) {
                        q.cfgWrite(Math.max(bus, 0), bus < 0 ? PORT_SLOT : 0, 0, reg, size, value);
                    }
                    public long mmioRead(long addr) { return QemuQtest.number(q.command("readl 0x" + Long.toHexString(addr))); }
                };
                qemuSide = script(qemu);
                // QEMU's rule this VMM follows: on the root bus pcie.0 a virtio function stays conventional PCI.
                int p = (int) q.cfgRead(0, 3, 0, 0x34, 1) & ~3;
                boolean express = false;
                for (int guard = 0; p >= 0x40 && guard < 48; guard++) {
                    express |= q.cfgRead(0, 3, 0, p, 1) == 0x10;
                    p = (int) q.cfgRead(0, 3, 0, p + 1, 1) & ~3;
                }
                qemuRootBusExpress = express;
            }
        } finally {
            java.nio.file.Files.deleteIfExists(img);
            java.nio.file.Files.deleteIfExists(img2);
        }
        assertThat(qemuRootBusExpress).isFalse();

        Bus pio = new Bus("pio"), mmio = new Bus("mmio");
        PciBus root = PciBus.root(new PciPlatform(pio, mmio, new PciInterruptRouter((sl, pin) -> 16 + ((sl + pin - 1) & 7), g -> new RecordingLine())));
        Q35Mch.attach(root, mmio, 512L << 20).host().registerPorts(pio);
        PcieRootPort port = new PcieRootPort(1, 0);
        root.attach(PORT_SLOT, 0, port.bridge());
        PciConfigSpace ep = PciConfigSpace.expressEndpoint(0x1af4, 0x1042, 0x010000, 1);
        ep.addBar(4, PciBar.memory64(0x4000, false));
        PcieEndpointCapability.install(ep);
        port.plug(new PciDevice() {
            public PciConfigSpace configSpace() { return ep; }
            public long barRead(int bar, long offset, int size) { return 0; }
            public void barWrite(int bar, long offset, int size, long value) { }
        });
        Side ours = new Side() {
            public long cfg(int bus, int reg, int size) {
                pio.write(0xcf8, 4, address(bus, reg));
                return pio.read(0xcfc + (reg & 3), size);
            }
            public void cfgWrite(int bus, int reg, int size, long value) {
                pio.write(0xcf8, 4, address(bus, reg));
                pio.write(0xcfc + (reg & 3), size, value);
            }
            public long mmioRead(long addr) { return mmio.read(addr, 4); }
        };
        List<String> ourSide = script(ours);
        assertThat(ourSide).containsExactlyElementsOf(qemuSide);
    }
}
