package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PciHostBridgeTest {
    private Bus pio;
    private Bus mmio;
    private PciBus root;
    private PciHostBridge host;
    private TestDevice dev;

    @BeforeEach
    void setUp() {
        pio = new Bus("pio");
        mmio = new Bus("mmio");
        root = PciBus.root(new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11)));
        host = new PciHostBridge(root);
        host.registerPorts(pio);
        dev = new TestDevice(0xABCD);
        dev.config.setInterruptPin(1);
        root.attach(7, 0, dev);
    }

    @Test
    void hostBridgeIdentityAt0000() {
        pio.write(0xCF8, 4, 0x8000_0000L);
        assertThat(pio.read(0xCFC, 4)).isEqualTo(0x1237_8086L);
        pio.write(0xCF8, 4, 0x8000_0008L);
        assertThat(pio.read(0xCFC, 4) >>> 8).isEqualTo(0x060000L);
        pio.write(0xCF8, 4, 0x8000_000CL);
        assertThat(pio.read(0xCFE, 1)).isEqualTo(0L);       // header type 0, single function
    }

    @Test
    void addressLatchReadsBackWithReservedBitsClear() {
        pio.write(0xCF8, 4, 0xFFFF_FFFFL);
        assertThat(pio.read(0xCF8, 4)).isEqualTo(0x80FF_FFFCL);
        pio.write(0xCF8, 4, 0x8000_0000L);                  // Linux's type 1 probe
        assertThat(pio.read(0xCF8, 4)).isEqualTo(0x8000_0000L);
    }

    @Test
    void byteAndWordAccessesAtDataPortOffsets() {
        int addr = FakeGuest.address(0, 7, 0, 0x00);
        pio.write(0xCF8, 4, addr & 0xFFFF_FFFFL);
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0x1234L);
        assertThat(pio.read(0xCFE, 2)).isEqualTo(0xABCDL);
        assertThat(pio.read(0xCFD, 1)).isEqualTo(0x12L);
        assertThat(pio.read(0xCFF, 1)).isEqualTo(0xABL);
        assertThat(pio.read(0xCFD, 2)).isEqualTo(0xCD12L);  // unaligned word inside the dword
        assertThat(pio.read(0xCFF, 2)).isEqualTo(0xFFFFL);  // crosses the dword: no device answers

        pio.write(0xCF8, 4, FakeGuest.address(0, 7, 0, 0x3C) & 0xFFFF_FFFFL);
        pio.write(0xCFC, 1, 0x0B);                           // interrupt line
        assertThat(pio.read(0xCFD, 1)).isEqualTo(1L);        // interrupt pin INTA#
        assertThat(pio.read(0xCFC, 4) & 0xFFFF).isEqualTo(0x010BL);

        pio.write(0xCF8, 4, FakeGuest.address(0, 7, 0, 0x04) & 0xFFFF_FFFFL);
        pio.write(0xCFD, 1, 0x04);                           // command high byte: INTx disable
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0x0400L);
        pio.write(0xCFC, 2, 0x0002);
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0x0002L);
    }

    @Test
    void disabledAddressOrMissingDeviceReadsAllOnes() {
        pio.write(0xCF8, 4, FakeGuest.address(0, 7, 0, 0) & 0x7FFF_FFFFL);
        assertThat(pio.read(0xCFC, 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0xFFFFL);
        pio.write(0xCFC, 1, 0x55);                           // dropped, not crashed
        pio.write(0xCF8, 4, FakeGuest.address(0, 8, 0, 0) & 0xFFFF_FFFFL);
        assertThat(pio.read(0xCFC, 4)).isEqualTo(0xFFFF_FFFFL);
        pio.write(0xCF8, 4, FakeGuest.address(0, 7, 1, 0) & 0xFFFF_FFFFL);
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0xFFFFL);
        pio.write(0xCF8, 4, FakeGuest.address(9, 7, 0, 0) & 0xFFFF_FFFFL);
        assertThat(pio.read(0xCFC, 2)).isEqualTo(0xFFFFL);
    }

    @Test
    void narrowAccessesToTheAddressPortGoElsewhere() {
        List<String> seen = new ArrayList<>();
        host.setNarrowAddressPortAccess(new BusDevice() {
            public long read(long o, int s) { return 0x42; }
            public void write(long o, int s, long v) { seen.add(o + "=" + v); }
        });
        pio.write(0xCF8, 4, 0x8000_0000L);
        pio.write(0xCF9, 1, 0x06);                           // reset control, not the latch
        assertThat(seen).containsExactly("1=6");
        assertThat(pio.read(0xCF9, 1)).isEqualTo(0x42L);
        assertThat(pio.read(0xCF8, 4)).isEqualTo(0x8000_0000L);
    }

    @Test
    void multiFunctionBitFollowsAttachedFunctions() {
        assertThat(dev.config.read(0x0E, 1)).isZero();
        TestDevice fn3 = new TestDevice(0x3333);
        root.attach(7, 3, fn3);
        assertThat(dev.config.read(0x0E, 1)).isEqualTo(0x80);
        pio.write(0xCF8, 4, FakeGuest.address(0, 7, 3, 0) & 0xFFFF_FFFFL);
        assertThat(pio.read(0xCFE, 2)).isEqualTo(0x3333L);
        root.detach(7, 3);
        assertThat(dev.config.read(0x0E, 1)).isZero();
    }

    @Test
    void ecamDecodesBusDeviceFunctionRegister() {
        PciEcam ecam = host.ecam(256);
        assertThat(ecam.length()).isEqualTo(256L << 20);
        mmio.register(0xB000_0000L, ecam.length(), ecam);
        long fnBase = 0xB000_0000L + (7L << 15);
        assertThat(mmio.read(fnBase, 4)).isEqualTo(0xABCD_1234L);
        assertThat(mmio.read(fnBase + 2, 2)).isEqualTo(0xABCDL);
        mmio.write(fnBase + 0x3C, 1, 0x0A);
        assertThat(dev.config.interruptLine()).isEqualTo(0x0A);
        assertThat(mmio.read(fnBase + 0x100, 4)).isZero();                    // no extended caps
        assertThat(mmio.read(fnBase + 1, 2)).isEqualTo(0xFFFFL);              // misaligned
        assertThat(mmio.read(fnBase, 8)).isEqualTo(-1L);                      // too wide
        assertThat(mmio.read(0xB000_0000L + (8L << 15), 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(mmio.read(0xB000_0000L + (3L << 20), 2)).isEqualTo(0xFFFFL); // bus 3: nothing
    }

    @Test
    void expressEndpointExposesExtendedSpaceThroughEcam() {
        PciConfigSpace cs = PciConfigSpace.expressEndpoint(0x1b36, 0x000d, 0x0c0330, 0);
        cs.setDword(0x100, 0x0001_0001);
        root.attach(9, 0, new PciDevice() {
            public PciConfigSpace configSpace() { return cs; }
            public long barRead(int bar, long offset, int size) { return 0; }
            public void barWrite(int bar, long offset, int size, long value) { }
        });
        PciEcam ecam = host.ecam(1);
        assertThat(ecam.read((9L << 15) + 0x100, 4)).isEqualTo(0x0001_0001L);
        assertThat(ecam.read(1L << 20, 4)).isEqualTo(0xFFFF_FFFFL);           // past the window
    }
}
