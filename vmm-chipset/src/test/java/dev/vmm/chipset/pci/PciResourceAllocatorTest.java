package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PciResourceAllocatorTest {
    private final Bus pio = new Bus("pio");
    private final Bus mmio = new Bus("mmio");
    private final PciBus root = PciBus.root(new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11)));
    private final PciHostBridge host = new PciHostBridge(root);
    private final List<TestDevice> devices = new ArrayList<>();

    private TestDevice device() {
        TestDevice d = new TestDevice(0x200 + devices.size())
                .bar(0, PciBar.memory32(0x1000, false))
                .bar(2, PciBar.memory64(0x10_0000, true))
                .bar(4, PciBar.io(0x40));
        devices.add(d);
        return d;
    }

    @Test
    void everythingIsReachableAfterAssignmentAndTheGuestSeesConsistentRegisters() {
        host.registerPorts(pio);
        PciBridge a = new PciBridge();
        PciBridge b = new PciBridge();
        PciBridge empty = new PciBridge();
        root.attach(1, 0, a);
        root.attach(2, 0, empty);
        root.attach(3, 0, device());
        for (int slot = 0; slot < 31; slot++) a.secondaryBus().attach(slot, 0, device());
        a.secondaryBus().attach(31, 0, b);
        b.secondaryBus().attach(device());

        PciResourceAllocator alloc = new PciResourceAllocator(0xC000_0000L, 0x3EC0_0000L, 0x80_0000_0000L, 1L << 36, 0x1000, 0xF000);
        assertThat(alloc.assign(root)).isEqualTo(3);
        assertThat(new int[]{a.secondaryBusNumber(), a.subordinateBusNumber(), b.secondaryBusNumber(), empty.secondaryBusNumber()})
                .containsExactly(1, 2, 2, 3);

        FakeGuest guest = new FakeGuest(pio);
        assertThat(devices).hasSize(33);
        for (TestDevice d : devices) {
            for (int bar : new int[]{0, 2, 4}) {
                long addr = d.function.barAddress(bar);
                assertThat(addr).as("%s BAR%d", d.function, bar).isNotEqualTo(PciBar.UNMAPPED);
                assertThat(addr % d.config.bar(bar).size()).isZero();
                assertThat((bar == 4 ? pio : mmio).read(addr + 8, 4)).isEqualTo(TestDevice.pattern(bar, 8));
            }
            assertThat(d.function.barAddress(2)).isGreaterThanOrEqualTo(0x80_0000_0000L);
            // The guest reads back the same placement through config cycles.
            int busNo = d.function.bus().number();
            assertThat(guest.read(busNo, d.function.slot(), 0, 0x10, 4) & ~0xF).isEqualTo((int) d.function.barAddress(0));
        }
        assertThat(empty.memoryBase()).isGreaterThan(empty.memoryLimit());           // closed
        assertThat(empty.ioBase()).isGreaterThan(empty.ioLimit());
        assertThat(b.memoryBase()).isGreaterThanOrEqualTo(a.memoryBase());
        assertThat(b.prefetchableLimit()).isLessThanOrEqualTo(a.prefetchableLimit());
    }

    @Test
    void exhaustedWindowIsReported() {
        root.attach(device());
        root.attach(device());
        assertThatThrownBy(() -> new PciResourceAllocator(0xC000_0000L, 0x1000, 0, 0, 0x1000, 0x1000).assign(root))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("32-bit");
    }
}
