package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A guest-like walk over a hierarchy with more than 32 devices: root bus with bridges A (slot 1)
 * and B (slot 2) and 29 endpoints; behind A 31 endpoints and bridge C; behind C 10 endpoints;
 * behind B 5 endpoints. 75 endpoints in all.
 */
class PciEnumerationTest {
    private Bus pio;
    private Bus mmio;
    private PciBus root;
    private FakeGuest guest;
    private PciBridge bridgeA;
    private PciBridge bridgeB;
    private PciBridge bridgeC;
    private final List<TestDevice> endpoints = new ArrayList<>();
    private final Map<Integer, TestDevice> byId = new HashMap<>();

    @BeforeEach
    void setUp() {
        pio = new Bus("pio");
        mmio = new Bus("mmio");
        PciPlatform platform = new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11))
                .mmioWindow(0xC000_0000L, 0x3EC0_0000L)
                .mmioWindow(0x80_0000_0000L, 0x80_0000_0000L)
                .ioWindow(0x1000, 0xF000);
        root = PciBus.root(platform);
        new PciHostBridge(root).registerPorts(pio);
        guest = new FakeGuest(pio);

        bridgeA = new PciBridge();
        bridgeB = new PciBridge();
        bridgeC = new PciBridge();
        root.attach(1, 0, bridgeA);
        root.attach(2, 0, bridgeB);
        for (int slot = 3; slot < 32; slot++) root.attach(slot, 0, endpoint());
        for (int slot = 0; slot < 31; slot++) bridgeA.secondaryBus().attach(slot, 0, endpoint());
        bridgeA.secondaryBus().attach(31, 0, bridgeC);
        for (int slot = 0; slot < 10; slot++) bridgeC.secondaryBus().attach(slot, 0, endpoint());
        for (int slot = 0; slot < 5; slot++) bridgeB.secondaryBus().attach(slot, 0, endpoint());
    }

    private TestDevice endpoint() {
        int id = 0x100 + endpoints.size();
        TestDevice d = new TestDevice(id)
                .bar(0, PciBar.memory32(0x1000, false))
                .bar(2, PciBar.memory64(0x4000, true));
        if (endpoints.size() % 4 == 0) d.bar(4, PciBar.io(0x20));
        d.config.setInterruptPin(1);
        endpoints.add(d);
        byId.put(id, d);
        return d;
    }

    private GuestEnumerator enumerate() {
        GuestEnumerator e = new GuestEnumerator(guest, 0xC000_0000L, 0x80_0000_0000L, 0x1000);
        assertThat(e.scan()).isEqualTo(3);
        e.assign(0);
        return e;
    }

    @Test
    void rootBusCannotHoldMoreThan32Devices() {
        assertThatThrownBy(() -> root.attach(new TestDevice(1))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void guestFindsEveryDeviceBehindTwoLevelsOfBridges() {
        GuestEnumerator e = enumerate();
        long endpointsFound = e.found.stream().filter(f -> f.vendor() == TestDevice.VENDOR).count();
        assertThat(endpointsFound).isEqualTo(75);
        assertThat(e.found).hasSize(75 + 3 + 1);
        assertThat(e.found.stream().filter(f -> f.headerType() == 1).map(f -> f.bus() + ":" + f.dev()))
                .containsExactly("0:1", "1:31", "0:2");
        // Depth-first numbering: A gets 1 (subordinate 2, C below it gets 2), B gets 3.
        assertThat(new int[]{bridgeA.primaryBusNumber(), bridgeA.secondaryBusNumber(), bridgeA.subordinateBusNumber()}).containsExactly(0, 1, 2);
        assertThat(new int[]{bridgeC.primaryBusNumber(), bridgeC.secondaryBusNumber(), bridgeC.subordinateBusNumber()}).containsExactly(1, 2, 2);
        assertThat(new int[]{bridgeB.primaryBusNumber(), bridgeB.secondaryBusNumber(), bridgeB.subordinateBusNumber()}).containsExactly(0, 3, 3);
        assertThat(e.found.stream().filter(f -> f.bus() == 2).count()).isEqualTo(10);
        // Every device seen where it is attached.
        for (GuestEnumerator.Found f : e.found) {
            if (f.vendor() != TestDevice.VENDOR) continue;
            PciFunction fn = byId.get(f.device()).function;
            assertThat(fn.address()).isEqualTo(String.format("%02x:%02x.%x", f.bus(), f.dev(), f.fn()));
        }
        // Buses nobody claims answer "no device".
        for (int bus = 4; bus < 256; bus++) assertThat(guest.read(bus, 0, 0, 0, 2)).isEqualTo(0xFFFF);
    }

    @Test
    void barsBehindBridgesAreReachableAtTheAddressesTheGuestAssigned() {
        GuestEnumerator e = enumerate();
        assertThat(e.assigned).hasSize(75 * 2 + 19);
        for (GuestEnumerator.Found f : e.found) {
            if (f.vendor() != TestDevice.VENDOR) continue;
            TestDevice d = byId.get(f.device());
            for (int bar : new int[]{0, 2, 4}) {
                Long addr = e.assigned.get(GuestEnumerator.key(f.bus(), f.dev(), f.fn(), bar));
                if (addr == null) continue;
                assertThat(d.function.barAddress(bar)).as("%s BAR%d", d.function, bar).isEqualTo(addr);
                Bus space = bar == 4 ? pio : mmio;
                assertThat(space.read(addr + 0xC, 4)).isEqualTo(TestDevice.pattern(bar, 0xC));
            }
        }
        // The windows the guest programmed enclose what sits behind them.
        assertThat(bridgeA.memoryBase()).isEqualTo(0xC000_0000L);
        assertThat(bridgeC.memoryBase()).isGreaterThanOrEqualTo(bridgeA.memoryBase());
        assertThat(bridgeC.memoryLimit()).isLessThanOrEqualTo(bridgeA.memoryLimit());
        assertThat(bridgeA.prefetchableBase()).isEqualTo(0x80_0000_0000L);
    }

    @Test
    void changingBusNumbersReroutesConfigCycles() {
        enumerate();
        TestDevice behindB = (TestDevice) bridgeB.secondaryBus().function(4, 0).device();
        assertThat(guest.read(3, 4, 0, 2, 2)).isEqualTo(behindB.config.deviceId());

        guest.write(0, 2, 0, 0x19, 1, 7);           // B: secondary 7
        guest.write(0, 2, 0, 0x1A, 1, 9);           // subordinate 9
        assertThat(guest.read(3, 4, 0, 0, 2)).isEqualTo(0xFFFF);
        assertThat(guest.read(7, 4, 0, 2, 2)).isEqualTo(behindB.config.deviceId());
        assertThat(guest.read(9, 4, 0, 0, 2)).isEqualTo(0xFFFF);   // in range but no bridge numbered 9
        assertThat(behindB.function.address()).isEqualTo("07:04.0");

        guest.write(0, 2, 0, 0x19, 1, 0);           // unconfigured: claims nothing
        assertThat(guest.read(7, 4, 0, 0, 2)).isEqualTo(0xFFFF);
        assertThat(guest.read(0, 2, 0, 0, 2)).isEqualTo(PciBridge.VENDOR_ID);
    }

    @Test
    void closingOrDisablingABridgeWindowUnmapsEverythingBelow() {
        GuestEnumerator e = enumerate();
        TestDevice deep = (TestDevice) bridgeC.secondaryBus().function(9, 0).device();
        long bar0 = e.assigned.get(GuestEnumerator.key(2, 9, 0, 0));
        long bar2 = e.assigned.get(GuestEnumerator.key(2, 9, 0, 2));
        assertThat(mmio.read(bar0, 4)).isEqualTo(TestDevice.pattern(0, 0));

        // Close A's non-prefetchable window: BAR0 (32-bit) goes, BAR2 (prefetchable) stays.
        int window = guest.read(0, 1, 0, 0x20, 4);
        guest.write(0, 1, 0, 0x20, 4, 0x0000_FFF0);
        assertThat(deep.function.barAddress(0)).isEqualTo(PciBar.UNMAPPED);
        assertThat(mmio.read(bar0, 4)).isEqualTo(0xFFFF_FFFFL);
        assertThat(deep.function.barAddress(2)).isEqualTo(bar2);

        // Memory decode off on C: nothing of C's bus is reachable.
        guest.write(1, 31, 0, 0x04, 2, PciConfigSpace.COMMAND_IO);
        assertThat(deep.function.barAddress(2)).isEqualTo(PciBar.UNMAPPED);

        // Restore both: everything comes back where it was.
        guest.write(0, 1, 0, 0x20, 4, window);
        guest.write(1, 31, 0, 0x04, 2, 0x7);
        assertThat(deep.function.barAddress(0)).isEqualTo(bar0);
        assertThat(deep.function.barAddress(2)).isEqualTo(bar2);
        assertThat(mmio.read(bar0 + 4, 4)).isEqualTo(TestDevice.pattern(0, 4));
    }

    @Test
    void barPlacedOutsideItsBridgeWindowIsNotReachable() {
        enumerate();
        TestDevice behindB = (TestDevice) bridgeB.secondaryBus().function(0, 0).device();
        long inside = behindB.function.barAddress(0);
        guest.write(3, 0, 0, 0x10, 4, 0xD000_0000);       // inside the platform window, outside B's
        assertThat(behindB.function.barAddress(0)).isEqualTo(PciBar.UNMAPPED);
        assertThat(mmio.find(0xD000_0000L)).isNull();
        guest.write(3, 0, 0, 0x10, 4, (int) inside);
        assertThat(behindB.function.barAddress(0)).isEqualTo(inside);
    }

    @Test
    void aBridgeCannotBeAttachedBelowItself() {
        assertThatThrownBy(() -> bridgeC.secondaryBus().attach(20, 0, bridgeA)).isInstanceOf(IllegalArgumentException.class);
        PciBridge loose = new PciBridge();
        assertThatThrownBy(() -> loose.secondaryBus().attach(0, 0, loose)).isInstanceOf(IllegalArgumentException.class);
    }
}
