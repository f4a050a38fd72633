package dev.vmm.chipset.acpi;

import dev.vmm.chipset.testing.QemuQtest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.ToLongFunction;

import static dev.vmm.chipset.acpi.Piix4PciHotplug.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The PIIX4 ACPI PCI hot-plug block: the guest's sequences, refusals, and QEMU 7.2's registers as oracle. */
@Timeout(60)
class Piix4PciHotplugTest {
    private final List<String> ejects = new ArrayList<>();
    private final Piix4PciHotplug hp = new Piix4PciHotplug((slot, requested) -> ejects.add(slot + (requested ? " requested" : " by guest")));

    private long r(int offset) { return hp.read(offset, 4); }

    @Test
    void hotAddIsAnnouncedOnceThroughPciu() {
        hp.fixedSlot(0);
        hp.plug(3);
        assertThat(r(PCIU)).isEqualTo(1L << 3);
        assertThat(r(PCIU)).as("read by the GPE handler: announced").isZero();
        assertThat(r(PCRM) & 1L << 3).isNotZero();
        assertThat(hp.isOccupied(3)).isTrue();
    }

    @Test
    void hostRequestedRemovalEndsWithTheGuestsEject() {
        hp.coldPlugged(4);
        hp.requestUnplug(4);
        assertThat(r(PCID)).isEqualTo(1L << 4);
        hp.write(B0EJ, 4, 1L << 4);                       // _EJ0 of S20
        assertThat(ejects).containsExactly("4 requested");
        assertThat(r(PCID)).isZero();
        assertThat(hp.isOccupied(4)).isFalse();
        hp.plug(4);                                        // the slot can be used again
        assertThat(r(PCIU)).isEqualTo(1L << 4);
    }

    @Test
    void guestMayEjectRemovableDevicesButNotFixedOrEmptySlots() {
        hp.fixedSlot(0);
        hp.fixedSlot(5);
        hp.coldPlugged(6);
        hp.write(B0EJ, 4, 0xFFFF_FFFFL);
        assertThat(ejects).containsExactly("6 by guest");
        assertThat(hp.isFixed(0)).isTrue();
        assertThat(hp.isFixed(5)).isTrue();
    }

    @Test
    void otherBusesAndNarrowAccessesDoNothing() {
        hp.coldPlugged(3);
        hp.requestUnplug(3);
        hp.write(BNUM, 4, 1);
        assertThat(r(BNUM)).isEqualTo(1);
        assertThat(r(PCID)).isZero();
        assertThat(r(PCRM)).as("behind a bridge nothing is hot-pluggable").isZero();
        hp.write(B0EJ, 4, 1L << 3);
        assertThat(ejects).isEmpty();
        hp.write(BNUM, 4, 0);
        assertThat(hp.read(PCID, 1)).isZero();
        hp.write(B0EJ, 2, 1L << 3);
        assertThat(ejects).isEmpty();
        assertThat(r(PCID)).isEqualTo(1L << 3);
    }

    @Test
    void hostMisuseIsRefused() {
        hp.fixedSlot(1);
        assertThatThrownBy(() -> hp.plug(1)).isInstanceOf(IllegalStateException.class);
        hp.plug(2);
        assertThatThrownBy(() -> hp.plug(2)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> hp.requestUnplug(9)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> hp.plug(32)).isInstanceOf(IllegalArgumentException.class);
    }

    /** The same register script on both sides; the slots occupied by machine functions are the QEMU machine's. */
    static List<String> script(ToLongFunction<int[]> in, BiConsumer<Integer, Long> out) {
        List<String> s = new ArrayList<>();
        for (int o = 0; o < SIZE; o += 4) s.add("dword " + Integer.toHexString(o) + " " + Long.toHexString(in.applyAsLong(new int[] {o, 4})));
        s.add("byte pcrm " + in.applyAsLong(new int[] {PCRM, 1}) + " word pcrm " + in.applyAsLong(new int[] {PCRM, 2}));
        out.accept(B0EJ, 0xFFFF_FFFFL);    // nothing hot-plugged: nothing to eject
        s.add("after eject-all: pcrm " + Long.toHexString(in.applyAsLong(new int[] {PCRM, 4})) + " pcid " + in.applyAsLong(new int[] {PCID, 4}));
        out.accept(BNUM, 1L);
        s.add("bnum " + in.applyAsLong(new int[] {BNUM, 4}) + " pciu " + in.applyAsLong(new int[] {PCIU, 4}) + " pcid " + in.applyAsLong(new int[] {PCID, 4}));
        out.accept(BNUM, 0L);
        s.add("bnum back " + in.applyAsLong(new int[] {BNUM, 4}) + " pcrm " + Long.toHexString(in.applyAsLong(new int[] {PCRM, 4})));
        return s;
    }

    @Test
    void registersMatchQemu() throws Exception {
        QemuQtest.assumeInstalled();
        List<String> qemu;
        // pc: host bridge 00.0, PIIX3 01.x; a pci-bridge at 05.0 (bridges are not hot-pluggable slots).
        try (QemuQtest q = QemuQtest.start("-M", "pc", "-device", "pci-bridge,id=br1,chassis_nr=1,addr=5")) {
            qemu = script(a -> q.in(BASE + a[0], a[1]), (o, v) -> q.out(BASE + o, 4, v));
        }
        hp.fixedSlot(0);
        hp.fixedSlot(1);
        hp.fixedSlot(5);
        List<String> ours = script(a -> hp.read(a[0], a[1]), (o, v) -> hp.write(o, 4, v));
        assertThat(ours).containsExactlyElementsOf(qemu);
        assertThat(ejects).isEmpty();
    }
}
