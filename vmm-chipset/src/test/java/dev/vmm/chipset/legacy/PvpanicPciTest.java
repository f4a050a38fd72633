package dev.vmm.chipset.legacy;

import dev.vmm.chipset.pci.PciConfigSpace;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class PvpanicPciTest {
    private final List<Integer> events = new ArrayList<>();
    private final PvpanicPci dev = new PvpanicPci(events::add);

    @Test
    void identifiesAsQemusPvpanicPci() {
        PciConfigSpace c = dev.configSpace();
        assertThat(dev.configRead(PciConfigSpace.VENDOR_ID, 2)).isEqualTo(0x1b36);
        assertThat(dev.configRead(PciConfigSpace.DEVICE_ID, 2)).isEqualTo(0x0011);
        assertThat(dev.configRead(PciConfigSpace.REVISION_ID, 4) >>> 8).as("class code").isEqualTo(0x088000);
        assertThat(dev.configRead(PciConfigSpace.INTERRUPT_PIN, 1)).as("no interrupt").isZero();
        assertThat(c.deviceId()).isEqualTo(0x0011);
    }

    @Test
    void bar0IsASixteenByteMemoryBar() {
        dev.configWrite(PciConfigSpace.BAR0, 4, 0xFFFF_FFFF);
        int sized = dev.configRead(PciConfigSpace.BAR0, 4);
        assertThat(sized & 1).as("memory, not I/O").isZero();
        assertThat(~(sized & ~0xF) + 1).isEqualTo(16);
    }

    @Test
    void readsTheSupportedEventsAndReportsTheWrittenOnes() {
        assertThat(dev.barRead(0, 0, 1)).isEqualTo(Pvpanic.PANICKED | Pvpanic.CRASH_LOADED);
        dev.barWrite(0, 0, 1, Pvpanic.PANICKED);
        dev.barWrite(0, 0, 1, 0x04);          // not an event this device reports: dropped
        dev.barWrite(0, 1, 1, Pvpanic.PANICKED); // not the register
        dev.barWrite(0, 0, 1, Pvpanic.CRASH_LOADED);
        assertThat(events).containsExactly(Pvpanic.PANICKED, Pvpanic.CRASH_LOADED);
    }
}
