package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PciInterruptRouterTest {
    private final List<String> lines = new ArrayList<>();
    private PciInterruptRouter router;
    private PciBus root;
    private FakeGuest guest;

    @BeforeEach
    void setUp() {
        Bus pio = new Bus("pio");
        router = PciInterruptRouter.pirq(gsi -> level -> lines.add(gsi + (level ? "+" : "-")), 10, 11, 12, 13);
        root = PciBus.root(new PciPlatform(pio, new Bus("mmio"), router));
        new PciHostBridge(root).registerPorts(pio);
        guest = new FakeGuest(pio);
    }

    private TestDevice device(int pin) {
        TestDevice d = new TestDevice(0x20);
        d.config.setInterruptPin(pin);
        return d;
    }

    @Test
    void pirqPolicyRotatesPinsBySlot() {
        assertThat(router.gsi(0, 1)).isEqualTo(10);
        assertThat(router.gsi(1, 1)).isEqualTo(11);
        assertThat(router.gsi(3, 2)).isEqualTo(10);
        assertThat(router.gsi(5, 4)).isEqualTo(10);
        assertThat(router.routes()).hasSize(128).contains(new PciInterruptRouter.Route(0, 3, 2, 10));
    }

    @Test
    void intxAssertsTheRoutedGsiAndMirrorsStatus() {
        TestDevice d = device(1);
        PciFunction f = root.attach(2, 0, d);
        f.intx().set(true);
        assertThat(lines).containsExactly("12+");
        assertThat(guest.read(0, 2, 0, 0x06, 2) & PciConfigSpace.STATUS_INTERRUPT).isNotZero();
        f.intx().set(false);
        assertThat(lines).containsExactly("12+", "12-");
        assertThat(guest.read(0, 2, 0, 0x06, 2) & PciConfigSpace.STATUS_INTERRUPT).isZero();
    }

    @Test
    void interruptDisableBitGatesTheLineButNotTheStatus() {
        PciFunction f = root.attach(2, 0, device(1));
        guest.write(0, 2, 0, 0x04, 2, PciConfigSpace.COMMAND_INTX_DISABLE);
        f.intx().set(true);
        assertThat(lines).isEmpty();
        assertThat(f.configSpace().status() & PciConfigSpace.STATUS_INTERRUPT).isNotZero();
        guest.write(0, 2, 0, 0x04, 2, 0);                          // re-enabled while asserted
        assertThat(lines).containsExactly("12+");
        guest.write(0, 2, 0, 0x04, 2, PciConfigSpace.COMMAND_INTX_DISABLE);
        assertThat(lines).containsExactly("12+", "12-");
    }

    @Test
    void sharedGsiStaysHighWhileAnySourceAsserts() {
        PciFunction a = root.attach(2, 0, device(1));              // PIRQC
        PciFunction b = root.attach(6, 0, device(1));              // (6 + 0) % 4 = 2: PIRQC too
        a.intx().set(true);
        b.intx().set(true);
        a.intx().set(false);
        assertThat(lines).containsExactly("12+");
        assertThat(router.isAsserted(12)).isTrue();
        b.intx().set(false);
        assertThat(lines).containsExactly("12+", "12-");
    }

    @Test
    void deviceWithoutPinRaisesNothing() {
        PciFunction f = root.attach(2, 0, device(0));
        f.intx().set(true);
        assertThat(lines).isEmpty();
        assertThat(router.gsiOf(f)).isEqualTo(-1);
    }

    @Test
    void bridgesSwizzleAtEveryLevel() {
        PciBridge outer = new PciBridge();
        PciBridge inner = new PciBridge();
        root.attach(3, 0, outer);
        outer.secondaryBus().attach(5, 0, inner);
        PciFunction f = inner.secondaryBus().attach(2, 0, device(2));     // INTB
        // inner: dev 2 INTB -> pin ((2-1)+2)%4+1 = 4 at slot 5 of the outer bus
        // outer: dev 5 INTD -> pin ((4-1)+5)%4+1 = 1 at root slot 3 -> PIRQ[(3+0)%4] = 13
        assertThat(PciBridge.swizzle(2, 2)).isEqualTo(4);
        assertThat(PciBridge.swizzle(5, 4)).isEqualTo(1);
        assertThat(router.gsiOf(f)).isEqualTo(13);
        f.intx().set(true);
        assertThat(lines).containsExactly("13+");
        assertThat(router.routes(root)).containsExactly(new PciInterruptRouter.Route(0, 3, 1, 13));
    }

    @Test
    void routesForTheMpTableCoverOccupiedSlotsOnly() {
        root.attach(2, 0, device(1));
        root.attach(2, 1, device(2));
        root.attach(4, 0, device(0));
        List<PciInterruptRouter.Route> routes = router.routes(root);
        assertThat(routes).containsExactly(new PciInterruptRouter.Route(0, 2, 1, 12), new PciInterruptRouter.Route(0, 2, 2, 13));
        assertThat(routes.get(1).mpSourceBusIrq()).isEqualTo(2 << 2 | 1);
        assertThat(routes.get(1).acpiAddress()).isEqualTo(0x2FFFFL);
        assertThat(routes.get(1).acpiPin()).isEqualTo(1);
    }

    @Test
    void perSlotPolicyGivesEachSlotItsOwnGsi() {
        int[] gsis = new int[32];
        for (int i = 0; i < 32; i++) gsis[i] = 32 + i;
        PciInterruptRouter perSlot = PciInterruptRouter.perSlot(g -> l -> { }, gsis);
        assertThat(perSlot.gsi(7, 1)).isEqualTo(39);
        assertThat(perSlot.gsi(7, 4)).isEqualTo(39);
    }

    @Test
    void interruptLineRegistersCanBePrefilled() {
        PciFunction f = root.attach(2, 0, device(1));
        PciBridge bridge = new PciBridge();
        root.attach(8, 0, bridge);
        PciFunction behind = bridge.secondaryBus().attach(1, 0, device(1));
        router.assignInterruptLines(root);
        assertThat(f.configSpace().interruptLine()).isEqualTo(12);
        assertThat(behind.configSpace().interruptLine()).isEqualTo(router.gsi(8, PciBridge.swizzle(1, 1)));
        assertThat(guest.read(0, 2, 0, 0x3C, 1)).isEqualTo(12);
    }
}
