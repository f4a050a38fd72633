package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PciBarMappingTest {
    private Bus pio;
    private Bus mmio;
    private PciPlatform platform;
    private PciBus root;
    private FakeGuest guest;
    private final List<String> listened = new ArrayList<>();
    private TestDevice dev;

    @BeforeEach
    void setUp() {
        pio = new Bus("pio");
        mmio = new Bus("mmio");
        platform = new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11))
                .barListener((f, bar, o, n) -> listened.add(f.address() + " " + bar + ":" + Long.toHexString(o) + "->" + Long.toHexString(n)));
        root = PciBus.root(platform);
        new PciHostBridge(root).registerPorts(pio);
        guest = new FakeGuest(pio);
        dev = new TestDevice(0x11)
                .bar(0, PciBar.memory32(0x1000, false))
                .bar(2, PciBar.memory64(0x4000, true))
                .bar(4, PciBar.io(0x20));
        root.attach(3, 0, dev);
    }

    private static final long UNMAPPED = -1;

    @Test
    void sizingThroughThePortsReportsEachKind() {
        assertThat(guest.sizeBar(0, 3, 0, 0)).isEqualTo(0x1000);
        assertThat(guest.sizeBar(0, 3, 0, 2)).isEqualTo(0x4000);
        assertThat(guest.sizeBar(0, 3, 0, 4)).isEqualTo(0x20);
        assertThat(guest.sizeBar(0, 3, 0, 1)).isZero();
        assertThat(guest.sizeBar(0, 3, 0, 5)).isZero();
    }

    @Test
    void barDecodesOnlyWithTheCommandBitSet() {
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        assertThat(mmio.find(0xE000_0000L)).isNull();
        assertThat(dev.function.barAddress(0)).isEqualTo(UNMAPPED);

        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(mmio.read(0xE000_0010L, 4)).isEqualTo(TestDevice.pattern(0, 0x10));
        assertThat(dev.function.barAddress(0)).isEqualTo(0xE000_0000L);

        guest.write(0, 3, 0, 0x04, 2, 0);
        assertThat(mmio.find(0xE000_0000L)).isNull();
        assertThat(mmio.read(0xE000_0010L, 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(dev.moves).containsExactly("0:ffffffffffffffff->e0000000", "0:e0000000->ffffffffffffffff");
        assertThat(listened).containsExactly("00:03.0 0:ffffffffffffffff->e0000000", "00:03.0 0:e0000000->ffffffffffffffff");
    }

    @Test
    void remapMovesTheBusRange() {
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        guest.write(0, 3, 0, 0x10, 4, 0xE100_0000);
        assertThat(mmio.read(0xE100_0008L, 4)).isEqualTo(TestDevice.pattern(0, 8));
        assertThat(mmio.find(0xE000_0008L)).isNull();
        mmio.write(0xE100_0004L, 4, 0x55);
        assertThat(dev.writes).containsExactly("0:4=55");
        assertThat(mmio.ranges()).hasSize(1);
        assertThat(listened).last().isEqualTo("00:03.0 0:e0000000->e1000000");
    }

    @Test
    void memory64BarMapsAboveFourGig() {
        guest.write(0, 3, 0, 0x18, 4, 0x0000_4000);
        guest.write(0, 3, 0, 0x1C, 4, 0x0000_0010);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(dev.function.barAddress(2)).isEqualTo(0x10_0000_4000L);
        assertThat(mmio.read(0x10_0000_4100L, 8)).isEqualTo(TestDevice.pattern(2, 0x100));
    }

    @Test
    void ioBarMapsOnThePioBus() {
        guest.write(0, 3, 0, 0x20, 4, 0xC000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(pio.find(0xC000)).isNull();              // memory enable does not decode I/O
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_IO);
        assertThat(pio.read(0xC004, 2)).isEqualTo(TestDevice.pattern(4, 4) & 0xFFFF);
        pio.write(0xC01F, 1, 0xAA);
        assertThat(dev.writes).containsExactly("4:1f=aa");
        assertThat(pio.find(0xC020)).isNull();
    }

    @Test
    void sizingWhileDecodingDoesNotMapTheSizingPattern() {
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_IO);
        guest.write(0, 3, 0, 0x10, 4, 0xFFFF_FFFF);
        assertThat(dev.function.barAddress(0)).isEqualTo(UNMAPPED);
        assertThat(mmio.find(0xFFFF_F000L)).isNull();
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        assertThat(dev.function.barAddress(0)).isEqualTo(0xE000_0000L);
    }

    @Test
    void overlappingBarsDoNotCrashAndTheSecondStaysUnmapped() {
        TestDevice other = new TestDevice(0x12).bar(0, PciBar.memory32(0x2000, false));
        root.attach(4, 0, other);
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        guest.write(0, 4, 0, 0x10, 4, 0xE000_0000);          // same place
        guest.write(0, 4, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(other.function.barAddress(0)).isEqualTo(UNMAPPED);
        assertThat(mmio.read(0xE000_0000L, 4)).isEqualTo(TestDevice.pattern(0, 0));
        // Once the first device moves away, reprogramming the second maps it.
        guest.write(0, 3, 0, 0x10, 4, 0xE010_0000);
        guest.write(0, 4, 0, 0x10, 4, 0xE000_0000);
        assertThat(other.function.barAddress(0)).isEqualTo(0xE000_0000L);
        assertThat(mmio.read(0xE000_0000L, 4)).isEqualTo(TestDevice.pattern(0, 0));
        assertThat(mmio.find(0xE000_0000L).device()).isNotSameAs(mmio.find(0xE010_0000L).device());
    }

    @Test
    void barOverAnotherDeviceOnTheBusIsRefused() {
        BusDevice ioapic = new BusDevice() {
            public long read(long o, int s) { return 0x1234; }
            public void write(long o, int s, long v) { }
        };
        mmio.register(0xFEC0_0000L, 0x1000, ioapic);
        guest.write(0, 3, 0, 0x10, 4, 0xFEC0_0000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(dev.function.barAddress(0)).isEqualTo(UNMAPPED);
        assertThat(mmio.read(0xFEC0_0000L, 4)).isEqualTo(0x1234);
    }

    @Test
    void absurdPlacementsStayUnmapped() {
        platform.mmioWindow(0xC000_0000L, 0x3EC0_0000L).mmioWindow(0x1_0000_0000L, 1L << 36).ioWindow(0x1000, 0xF000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_IO);
        guest.write(0, 3, 0, 0x10, 4, 0x0010_0000);            // over RAM: outside the windows
        assertThat(dev.function.barAddress(0)).isEqualTo(UNMAPPED);
        guest.write(0, 3, 0, 0x18, 4, 0x0000_C000);             // 64-bit far above any window
        guest.write(0, 3, 0, 0x1C, 4, 0xFFFF_FFF0);
        assertThat(dev.function.barAddress(2)).isEqualTo(UNMAPPED);
        guest.write(0, 3, 0, 0x20, 4, 0x0060);                  // the keyboard controller's ports
        assertThat(dev.function.barAddress(4)).isEqualTo(UNMAPPED);
        assertThat(mmio.ranges()).isEmpty();
        assertThat(pio.ranges()).hasSize(2);                    // just 0xCF8 and 0xCFC
        guest.write(0, 3, 0, 0x10, 4, 0xC000_0000);
        guest.write(0, 3, 0, 0x20, 4, 0x1000);
        assertThat(dev.function.barAddress(0)).isEqualTo(0xC000_0000L);
        assertThat(dev.function.barAddress(4)).isEqualTo(0x1000L);
    }

    @Test
    void firmwareStylePreassignmentMapsOnAttach() {
        TestDevice pre = new TestDevice(0x13).bar(0, PciBar.memory32(0x1000, false));
        pre.config.setBarAddress(0, 0xE020_0000L);
        pre.config.setWord(PciConfigSpace.COMMAND, PciConfigSpace.COMMAND_MEMORY);
        root.attach(5, 0, pre);
        assertThat(mmio.read(0xE020_0000L, 4)).isEqualTo(TestDevice.pattern(0, 0));
    }

    @Test
    void detachUnmaps() {
        guest.write(0, 3, 0, 0x10, 4, 0xE000_0000);
        guest.write(0, 3, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(root.detach(3, 0)).isSameAs(dev.function);
        assertThat(mmio.ranges()).isEmpty();
        assertThat(guest.read(0, 3, 0, 0, 2)).isEqualTo(0xFFFF);
    }
}
