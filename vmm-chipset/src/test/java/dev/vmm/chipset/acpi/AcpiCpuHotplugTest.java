package dev.vmm.chipset.acpi;

import static dev.vmm.chipset.acpi.AcpiCpuHotplug.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Drives the register block the way the DSDT's CSCN/_STA/_EJ0/_OST methods do. */
class AcpiCpuHotplugTest {
    final List<Integer> ejected = new ArrayList<>();
    final List<int[]> osts = new ArrayList<>();
    AcpiCpuHotplug hp;

    @BeforeEach
    void setUp() {
        hp = new AcpiCpuHotplug(new long[] {0, 1, 2, 0x1_0000_0005L}, 1, new AcpiCpuHotplug.Listener() {
            @Override public void ejected(int index) { ejected.add(index); }
            @Override public void ost(int index, int event, int status) { osts.add(new int[] {index, event, status}); }
        });
    }

    int status(int cpu) {
        hp.write(SELECTOR_OFFSET, 4, cpu);
        return (int) hp.read(FLAGS_OFFSET, 1);
    }

    /** CSCN's loop: select 0, command 0, read flags; if an event is pending, data = its selector. */
    int nextCpuWithEvent() {
        hp.write(SELECTOR_OFFSET, 4, 0);
        hp.write(COMMAND_OFFSET, 1, CMD_NEXT_EVENT);
        int flags = (int) hp.read(FLAGS_OFFSET, 1);
        if ((flags & (STS_INSERT | STS_REMOVE)) == 0) return -1;
        return (int) hp.read(DATA_OFFSET, 4);
    }

    @Test
    void modernInterfaceIsDetectedAsTheSpecDescribes() {
        hp.write(SELECTOR_OFFSET, 4, 0);
        hp.write(COMMAND_OFFSET, 1, CMD_NEXT_EVENT);
        assertThat(hp.read(SELECTOR_OFFSET, 4)).as("command data 2 reads 0 => modern").isZero();
    }

    @Test
    void onlyTheBootCpusAreEnabledAtPowerOn() {
        assertThat(status(0)).isEqualTo(STS_ENABLED);
        assertThat(status(1)).isZero();
        assertThat(status(3)).isZero();
        assertThat(nextCpuWithEvent()).isEqualTo(-1);
    }

    @Test
    void enumerationStopsWhereTheSelectorBecomesInvalid() {
        // The spec's "enumerate CPUs" loop: command data reads 0 once the iterator reaches max_cpus.
        hp.write(SELECTOR_OFFSET, 4, 0);
        hp.write(COMMAND_OFFSET, 1, CMD_NEXT_EVENT);
        int count = 0;
        for (int it = 1; ; it++) {
            hp.write(SELECTOR_OFFSET, 4, it);
            if (hp.read(DATA_OFFSET, 4) == 0) { count = it; break; }
        }
        assertThat(count).isEqualTo(hp.possibleCpus());
    }

    @Test
    void plugRaisesAnInsertEventTheGuestFindsAndAcknowledges() {
        hp.plug(2);
        assertThat(nextCpuWithEvent()).isEqualTo(2);
        assertThat(hp.selector()).isEqualTo(2);
        assertThat(hp.read(FLAGS_OFFSET, 1)).isEqualTo(STS_ENABLED | STS_INSERT);
        hp.write(FLAGS_OFFSET, 1, CTL_CLEAR_INSERT);     // after Notify(Cxx, 1)
        assertThat(hp.read(FLAGS_OFFSET, 1)).isEqualTo(STS_ENABLED);
        assertThat(nextCpuWithEvent()).isEqualTo(-1);
        assertThat(hp.selector()).as("no event: selector unchanged").isZero();
        assertThat(hp.isInserting(2)).isFalse();
    }

    @Test
    void nextEventSearchWrapsFromTheCurrentSelector() {
        hp.plug(1);
        hp.plug(3);
        hp.write(SELECTOR_OFFSET, 4, 2);
        hp.write(COMMAND_OFFSET, 1, CMD_NEXT_EVENT);
        assertThat(hp.read(DATA_OFFSET, 4)).isEqualTo(3);
        hp.write(FLAGS_OFFSET, 1, CTL_CLEAR_INSERT);
        hp.write(COMMAND_OFFSET, 1, CMD_NEXT_EVENT);
        assertThat(hp.read(DATA_OFFSET, 4)).as("wraps past the end").isEqualTo(1);
    }

    @Test
    void unplugIsARemoveEventThenEjectCallsTheListener() {
        hp.plug(1);
        nextCpuWithEvent();
        hp.write(FLAGS_OFFSET, 1, CTL_CLEAR_INSERT);
        hp.requestUnplug(1);
        assertThat(nextCpuWithEvent()).isEqualTo(1);
        assertThat(hp.read(FLAGS_OFFSET, 1)).isEqualTo(STS_ENABLED | STS_REMOVE);
        hp.write(FLAGS_OFFSET, 1, CTL_CLEAR_REMOVE);     // after Notify(Cxx, 3)
        assertThat(ejected).isEmpty();
        hp.write(SELECTOR_OFFSET, 4, 1);                 // _EJ0
        hp.write(FLAGS_OFFSET, 1, CTL_EJECT);
        assertThat(ejected).containsExactly(1);
        assertThat(status(1)).isZero();
        assertThat(hp.isPresent(1)).isFalse();
        hp.plug(1);                                      // the slot can be used again
        assertThat(status(1)).isEqualTo(STS_ENABLED | STS_INSERT);
    }

    @Test
    void theGuestCannotEjectACpuTheHostDidNotRelease() {
        hp.write(SELECTOR_OFFSET, 4, 0);
        hp.write(FLAGS_OFFSET, 1, CTL_EJECT);
        assertThat(ejected).isEmpty();
        assertThat(status(0)).isEqualTo(STS_ENABLED);
    }

    @Test
    void firmwareEjectRequestIsReportedAndClearedByTheEject() {
        hp.plug(1);
        hp.requestUnplug(1);
        hp.write(SELECTOR_OFFSET, 4, 1);
        hp.write(FLAGS_OFFSET, 1, CTL_FW_EJECT);
        assertThat(hp.read(FLAGS_OFFSET, 1) & STS_FW_EJECT).isEqualTo(STS_FW_EJECT);
        hp.write(FLAGS_OFFSET, 1, CTL_EJECT);
        // not enabled, no firmware request; the unacknowledged events stay, as in QEMU 7.2 (CpuHotplugRegistersQemuOracleTest)
        assertThat(hp.read(FLAGS_OFFSET, 1)).isEqualTo(STS_INSERT | STS_REMOVE);
        assertThat(ejected).containsExactly(1);
    }

    @Test
    void archIdCommandReturnsBothHalves() {
        hp.write(SELECTOR_OFFSET, 4, 3);
        hp.write(COMMAND_OFFSET, 1, CMD_ARCH_ID);
        assertThat(hp.read(DATA_OFFSET, 4)).isEqualTo(5);
        assertThat(hp.read(SELECTOR_OFFSET, 4)).isEqualTo(1);
        hp.write(COMMAND_OFFSET, 1, CMD_OST_EVENT);
        assertThat(hp.read(DATA_OFFSET, 4)).as("other commands: data reads 0").isZero();
        assertThat(hp.read(SELECTOR_OFFSET, 4)).isZero();
    }

    @Test
    void ostEventThenStatusReachesTheListener() {
        hp.write(SELECTOR_OFFSET, 4, 0);
        hp.write(COMMAND_OFFSET, 1, CMD_OST_EVENT);
        hp.write(DATA_OFFSET, 4, 0x103);
        assertThat(osts).isEmpty();
        hp.write(COMMAND_OFFSET, 1, CMD_OST_STATUS);
        hp.write(DATA_OFFSET, 4, 0x80);
        assertThat(osts).hasSize(1);
        assertThat(osts.get(0)).containsExactly(0, 0x103, 0x80);
        assertThat(hp.ost(0)).containsExactly(0x103, 0x80);
    }

    @Test
    void anInvalidSelectorReadsZeroAndIgnoresWritesUntilFixed() {
        hp.plug(1);
        hp.requestUnplug(1);
        hp.write(SELECTOR_OFFSET, 4, 0xffff_ffffL);
        for (int off = 0; off < SIZE; off++) assertThat(hp.read(off, 1)).isZero();
        hp.write(FLAGS_OFFSET, 1, CTL_CLEAR_INSERT | CTL_CLEAR_REMOVE | CTL_EJECT);
        hp.write(COMMAND_OFFSET, 1, CMD_ARCH_ID);
        assertThat(ejected).isEmpty();
        assertThat(hp.isInserting(1)).isTrue();
        assertThat(hp.isRemoving(1)).isTrue();
        hp.write(SELECTOR_OFFSET, 4, 4);                 // == max_cpus: still invalid
        assertThat(hp.read(FLAGS_OFFSET, 1)).isZero();
        hp.write(SELECTOR_OFFSET, 4, 1);
        assertThat(hp.read(FLAGS_OFFSET, 1)).isEqualTo(STS_ENABLED | STS_INSERT | STS_REMOVE);
    }

    @Test
    void reservedBytesReadZeroAndIgnoreWrites() {
        hp.write(SELECTOR_OFFSET, 4, 0);
        for (int off : new int[] {6, 7, 9, 10, 11}) {
            hp.write(off, 1, 0xff);
            assertThat(hp.read(off, 1)).isZero();
        }
        assertThat(status(0)).isEqualTo(STS_ENABLED);
    }

    @Test
    void hostSideMisuseIsRefused() {
        assertThatThrownBy(() -> hp.plug(0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> hp.requestUnplug(2)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> hp.plug(4)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new AcpiCpuHotplug(new long[] {0}, 2, i -> {})).isInstanceOf(IllegalArgumentException.class);
    }
}
