package dev.vmm.chipset.acpi;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Saved state of the two ACPI hot-plug register blocks (issue 15: snapshots and migration): a
 * second block loaded with the first's state answers every guest read the same and continues the
 * same way (an eject the host asked for still goes through); states no guest could produce or
 * for another layout are refused with nothing changed.
 */
class HotplugBlockStateTest {
    private static final long[] APIC_IDS = {0, 1, 2, 4};

    private static List<Long> cpuReads(AcpiCpuHotplug b) {
        List<Long> out = new ArrayList<>();
        for (int cpu = 0; cpu < APIC_IDS.length; cpu++) {
            b.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, cpu);
            out.add(b.read(AcpiCpuHotplug.FLAGS_OFFSET, 1));
            b.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_ARCH_ID);
            out.add(b.read(AcpiCpuHotplug.DATA_OFFSET, 4));
        }
        return out;
    }

    @Test
    void cpuBlockStateRoundTrips() {
        List<Integer> ejectedA = new ArrayList<>(), ejectedB = new ArrayList<>();
        AcpiCpuHotplug a = new AcpiCpuHotplug(APIC_IDS, 1, ejectedA::add);
        a.plug(2);
        a.plug(3);
        a.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, 3);
        a.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_CLEAR_INSERT);
        a.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_OST_EVENT);
        a.write(AcpiCpuHotplug.DATA_OFFSET, 4, 3);
        a.requestUnplug(3);
        a.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, 2);
        AcpiCpuHotplug.State s = a.state();

        AcpiCpuHotplug b = new AcpiCpuHotplug(APIC_IDS, 1, ejectedB::add);
        b.restore(s);
        assertThat(b.selector()).isEqualTo(2);
        assertThat(b.ost(3)).isEqualTo(a.ost(3));
        assertThat(cpuReads(b)).isEqualTo(cpuReads(a));
        // The next-event search starts from the same selector on both.
        a.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        b.write(AcpiCpuHotplug.COMMAND_OFFSET, 1, AcpiCpuHotplug.CMD_NEXT_EVENT);
        assertThat(b.read(AcpiCpuHotplug.DATA_OFFSET, 4)).isEqualTo(a.read(AcpiCpuHotplug.DATA_OFFSET, 4));
        for (AcpiCpuHotplug x : List.of(a, b)) {
            x.write(AcpiCpuHotplug.SELECTOR_OFFSET, 4, 3);
            x.write(AcpiCpuHotplug.FLAGS_OFFSET, 1, AcpiCpuHotplug.CTL_EJECT);
        }
        assertThat(ejectedB).as("the removal requested before the save completes after it").containsExactly(3).isEqualTo(ejectedA);
    }

    @Test
    void cpuBlockRefusesForeignStates() {
        AcpiCpuHotplug b = new AcpiCpuHotplug(APIC_IDS, 1, i -> { });
        AcpiCpuHotplug.State good = b.state();
        assertThatThrownBy(() -> b.restore(new AcpiCpuHotplug.State(new byte[3], new byte[24], 0, 0)))
                .hasMessage("state is for 3 possible CPUs, this machine has 4");
        assertThatThrownBy(() -> b.restore(new AcpiCpuHotplug.State(new byte[] {1, 0, 0x40, 0}, new byte[32], 0, 0)))
                .hasMessage("CPU 2: undefined flags 0x40");
        assertThatThrownBy(() -> b.restore(new AcpiCpuHotplug.State(new byte[] {1, 16, 0, 0}, new byte[32], 0, 0)))
                .hasMessage("CPU 1: an eject request for an absent CPU");
        assertThatThrownBy(() -> b.restore(new AcpiCpuHotplug.State(new byte[] {1, 0, 0, 0}, new byte[32], -1, 0)))
                .hasMessage("CPU selector -1");
        assertThatThrownBy(() -> b.restore(new AcpiCpuHotplug.State(new byte[] {1, 0, 0, 0}, new byte[32], 0, 256)))
                .hasMessage("command 256");
        AcpiCpuHotplug.State after = b.state();
        assertThat(after.flags()).isEqualTo(good.flags());
        assertThat(after.ost()).isEqualTo(good.ost());
    }

    private static List<Long> piix4Reads(Piix4PciHotplug b) {
        List<Long> out = new ArrayList<>();
        for (int off : new int[] {Piix4PciHotplug.PCID, Piix4PciHotplug.PCRM, Piix4PciHotplug.BNUM, Piix4PciHotplug.PCIU, Piix4PciHotplug.PCIU}) {
            out.add(b.read(off, 4));
        }
        return out;
    }

    @Test
    void piix4BlockStateRoundTrips() {
        List<String> ejectedA = new ArrayList<>(), ejectedB = new ArrayList<>();
        Piix4PciHotplug a = new Piix4PciHotplug((slot, requested) -> ejectedA.add(slot + "/" + requested));
        Piix4PciHotplug b = new Piix4PciHotplug((slot, requested) -> ejectedB.add(slot + "/" + requested));
        for (Piix4PciHotplug x : List.of(a, b)) {
            x.fixedSlot(0);
            x.coldPlugged(3);
        }
        b.coldPlugged(5);            // the destination has the hot-plugged device as a start-up one
        a.plug(5);
        a.plug(6);
        a.requestUnplug(3);
        Piix4PciHotplug.State s = a.state();
        b.restore(s);
        assertThat(b.state()).isEqualTo(s);
        assertThat(piix4Reads(b)).isEqualTo(piix4Reads(a));
        for (Piix4PciHotplug x : List.of(a, b)) x.write(Piix4PciHotplug.B0EJ, 4, 1 << 3 | 1 << 6);
        assertThat(ejectedB).containsExactly("3/true", "6/false").isEqualTo(ejectedA);
    }

    @Test
    void piix4BlockRefusesForeignStates() {
        Piix4PciHotplug b = new Piix4PciHotplug((slot, requested) -> { });
        b.fixedSlot(0);
        b.coldPlugged(2);
        Piix4PciHotplug.State before = b.state();
        assertThatThrownBy(() -> b.restore(new Piix4PciHotplug.State(0b11, 0b100, 0, 0, 0))).hasMessageContaining("another machine layout");
        assertThatThrownBy(() -> b.restore(new Piix4PciHotplug.State(1, 0b101, 0, 0, 0))).hasMessage("fixed slots marked occupied: 0x00000001");
        assertThatThrownBy(() -> b.restore(new Piix4PciHotplug.State(1, 0b100, 0, 0b1000, 0))).hasMessage("removal pending for empty slots 0x00000008");
        assertThatThrownBy(() -> b.restore(new Piix4PciHotplug.State(1, 0b100, 0b10000, 0, 0))).hasMessage("plug pending for empty slots 0x00000010");
        assertThat(b.state()).isEqualTo(before);
    }
}
