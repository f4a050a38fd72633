package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** MSI-X through the guest's view: capability in config space, table and PBA in a mapped BAR. */
class MsixTest {
    private static final long BAR_ADDRESS = 0xE000_0000L;
    private static final long TABLE = BAR_ADDRESS + 0x2000;
    private static final long PBA = BAR_ADDRESS + 0x3000;

    private final List<String> delivered = new ArrayList<>();
    private final List<String> changes = new ArrayList<>();
    private Bus mmio;
    private FakeGuest guest;
    private MsixTable table;
    private MsixCapability msix;
    private int cap;

    /** A device with a 16 KiB BAR0 whose second half holds the MSI-X table (0x2000) and PBA (0x3000). */
    private final class MsixDevice implements PciDevice {
        final PciConfigSpace config = PciConfigSpace.endpoint(0x1af4, 0x1041, 0x020000, 1);

        @Override
        public PciConfigSpace configSpace() { return config; }

        @Override
        public long barRead(int bar, long offset, int size) {
            return msix.covers(bar, offset) ? msix.barRead(bar, offset, size) : 0x77;
        }

        @Override
        public void barWrite(int bar, long offset, int size, long value) {
            if (msix.covers(bar, offset)) msix.barWrite(bar, offset, size, value);
        }
    }

    @BeforeEach
    void setUp() {
        Bus pio = new Bus("pio");
        mmio = new Bus("mmio");
        PciBus root = PciBus.root(new PciPlatform(pio, mmio, PciInterruptRouter.pirq(g -> InterruptLine.none(), 10, 10, 11, 11)));
        new PciHostBridge(root).registerPorts(pio);
        guest = new FakeGuest(pio);
        MsixDevice dev = new MsixDevice();
        dev.config.addCapability(0x09, new byte[6], null);     // something before it in the chain
        dev.config.addBar(0, PciBar.memory64(0x4000, false));
        table = new MsixTable(70, (v, a, d) -> delivered.add(v + "@" + Long.toHexString(a) + "=" + Integer.toHexString(d)),
                (v, a, d, m) -> changes.add(v + "@" + Long.toHexString(a) + "=" + Integer.toHexString(d) + (m ? " masked" : "")));
        msix = MsixCapability.install(dev.config, table, 0, 0x2000, 0, 0x3000);
        cap = msix.offset();
        root.attach(4, 0, dev);
        guest.write(0, 4, 0, 0x10, 4, (int) BAR_ADDRESS);
        guest.write(0, 4, 0, 0x04, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
    }

    private void control(int bits) {
        guest.write(0, 4, 0, cap + 2, 2, bits);
    }

    private void program(int vector, long address, int data) {
        mmio.write(TABLE + 16L * vector, 4, address & 0xFFFF_FFFFL);
        mmio.write(TABLE + 16L * vector + 4, 4, address >>> 32);
        mmio.write(TABLE + 16L * vector + 8, 4, data & 0xFFFF_FFFFL);
    }

    private void mask(int vector, boolean masked) {
        mmio.write(TABLE + 16L * vector + 12, 4, masked ? 1 : 0);
    }

    @Test
    void capabilityDescribesTableAndPba() {
        assertThat(cap).isEqualTo(0x48);
        assertThat(guest.read(0, 4, 0, 0x41, 1)).isEqualTo(cap);                 // chained after the first one
        assertThat(guest.read(0, 4, 0, cap, 1)).isEqualTo(0x11);
        assertThat(guest.read(0, 4, 0, cap + 2, 2)).isEqualTo(69);               // N-1, disabled, unmasked
        assertThat(guest.read(0, 4, 0, cap + 4, 4)).isEqualTo(0x2000);           // offset | BIR 0
        assertThat(guest.read(0, 4, 0, cap + 8, 4)).isEqualTo(0x3000);
        guest.write(0, 4, 0, cap + 2, 2, 0xFFFF);                                 // only enable + mask stick
        assertThat(guest.read(0, 4, 0, cap + 2, 2)).isEqualTo(0xC000 | 69);
        guest.write(0, 4, 0, cap + 4, 4, 0x1234_5678);
        assertThat(guest.read(0, 4, 0, cap + 4, 4)).isEqualTo(0x2000);
    }

    @Test
    void entriesStartMaskedAndReadBackWhatTheGuestWrote() {
        assertThat(mmio.read(TABLE + 12, 4)).isEqualTo(1L);
        program(3, 0xFEE0_1000L, 0x4041);
        assertThat(mmio.read(TABLE + 48, 4)).isEqualTo(0xFEE0_1000L);
        assertThat(mmio.read(TABLE + 56, 4)).isEqualTo(0x4041L);
        assertThat(mmio.read(TABLE + 48, 8)).isEqualTo(0xFEE0_1000L);
        mmio.write(TABLE + 56, 8, 0x0000_0000_0000_4242L);                       // data + control in one qword
        assertThat(table.data(3)).isEqualTo(0x4242);
        assertThat(table.isVectorMasked(3)).isFalse();
        mmio.write(TABLE + 60, 4, 0xFFFF_FFFFL);                                  // reserved control bits read 0
        assertThat(mmio.read(TABLE + 60, 4)).isEqualTo(1L);
    }

    @Test
    void unmaskedVectorDeliversImmediately() {
        control(MsixCapability.CONTROL_ENABLE);
        program(5, 0xFEE0_0000L, 0x31);
        mask(5, false);
        assertThat(table.trigger(5)).isTrue();
        assertThat(delivered).containsExactly("5@fee00000=31");
        assertThat(table.isPending(5)).isFalse();
    }

    @Test
    void maskedVectorPendsAndDeliversOnUnmask() {
        control(MsixCapability.CONTROL_ENABLE);
        program(65, 0xFEE0_2000L, 0x55);
        assertThat(table.trigger(65)).isTrue();                                  // still masked from reset
        assertThat(delivered).isEmpty();
        assertThat(table.isPending(65)).isTrue();
        assertThat(mmio.read(PBA + 8, 8)).isEqualTo(1L << 1);                    // vector 65 = qword 1 bit 1
        assertThat(mmio.read(PBA + 8, 4)).isEqualTo(2L);
        assertThat(mmio.read(PBA, 8)).isZero();
        mmio.write(PBA + 8, 8, 0);                                               // PBA is read-only
        assertThat(table.isPending(65)).isTrue();

        mask(65, false);
        assertThat(delivered).containsExactly("65@fee02000=55");
        assertThat(table.isPending(65)).isFalse();
        assertThat(mmio.read(PBA + 8, 8)).isZero();
    }

    @Test
    void functionMaskPendsEveryVectorUntilCleared() {
        control(MsixCapability.CONTROL_ENABLE | MsixCapability.CONTROL_FUNCTION_MASK);
        program(0, 0xFEE0_0000L, 0x20);
        program(1, 0xFEE0_0000L, 0x21);
        mask(0, false);
        mask(1, false);
        table.trigger(0);
        table.trigger(1);
        assertThat(delivered).isEmpty();
        assertThat(mmio.read(PBA, 4)).isEqualTo(3L);
        assertThat(table.isVectorMasked(0)).isFalse();                          // function mask leaves vector bits alone
        control(MsixCapability.CONTROL_ENABLE);
        assertThat(delivered).containsExactly("0@fee00000=20", "1@fee00000=21");
        assertThat(mmio.read(PBA, 4)).isZero();
    }

    @Test
    void disabledMsixRefusesToSignal() {
        program(2, 0xFEE0_0000L, 0x22);
        mask(2, false);
        assertThat(table.trigger(2)).isFalse();
        assertThat(table.isPending(2)).isFalse();
        assertThat(delivered).isEmpty();
        assertThat(msix.isEnabled()).isFalse();
    }

    @Test
    void pendingBitCanBeWithdrawnByTheDevice() {
        control(MsixCapability.CONTROL_ENABLE);
        table.trigger(7);
        table.clearPending(7);
        mask(7, false);
        assertThat(delivered).isEmpty();
    }

    @Test
    void listenerSeesRouteAndMaskChanges() {
        program(1, 0xFEE0_0000L, 0x41);               // masked entry rewritten: reported, masked
        mask(1, false);                               // MSI-X still disabled: effectively masked, no change
        control(MsixCapability.CONTROL_ENABLE);       // now deliverable
        mmio.write(TABLE + 16 + 8, 4, 0x42);          // data rewritten while live
        mask(1, true);
        assertThat(changes).containsExactly(
                "1@fee00000=0 masked",
                "1@fee00000=41 masked",
                "1@fee00000=41",
                "1@fee00000=42",
                "1@fee00000=42 masked");
    }

    @Test
    void onlyAlignedDwordAndQwordTableAccessesCount() {
        program(0, 0xFEE0_0000L, 0x41);
        assertThat(mmio.read(TABLE, 2)).isZero();
        assertThat(mmio.read(TABLE + 1, 4)).isZero();
        assertThat(mmio.read(TABLE + 4, 8)).isZero();
        assertThat(mmio.read(TABLE + 8, 1)).isZero();
        mmio.write(TABLE + 8, 1, 0x99);
        mmio.write(TABLE + 8, 2, 0x9999);
        mmio.write(TABLE + 10, 4, 0x9999);
        assertThat(table.data(0)).isEqualTo(0x41);
        assertThat(mmio.read(TABLE + 70 * 16, 4)).isEqualTo(0x77);               // past the table: the device's
        assertThat(mmio.read(PBA + 16, 8)).isEqualTo(0x77);                      // past the 2-qword PBA
    }

    @Test
    void placementIsValidated() {
        PciConfigSpace cs = PciConfigSpace.endpoint(1, 2, 0, 0);
        MsixTable t = new MsixTable(16, (v, a, d) -> { }, null);
        assertThatThrownBy(() -> MsixCapability.install(cs, t, 0, 0, 0, 0x100)).hasMessageContaining("BAR 0");
        cs.addBar(0, PciBar.memory32(0x1000, false));
        cs.addBar(1, PciBar.io(0x100));
        assertThatThrownBy(() -> MsixCapability.install(cs, t, 0, 0x4, 0, 0x800)).hasMessageContaining("aligned");
        assertThatThrownBy(() -> MsixCapability.install(cs, t, 0, 0xF80, 0, 0x800)).hasMessageContaining("fit");
        assertThatThrownBy(() -> MsixCapability.install(cs, t, 0, 0, 0, 0x80)).hasMessageContaining("overlap");
        assertThatThrownBy(() -> MsixCapability.install(cs, t, 0, 0, 1, 0)).hasMessageContaining("memory BAR 1");
        assertThatThrownBy(() -> new MsixTable(2049, (v, a, d) -> { }, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.trigger(16)).isInstanceOf(IllegalArgumentException.class);
    }
}
