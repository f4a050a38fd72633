package dev.vmm.chipset.acpi;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.SharedInterruptLine;
import dev.vmm.chipset.testing.RecordingLine;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class Gpe0BlockTest {
    private final Bus pio = new Bus("pio");
    private final RecordingLine sci = new RecordingLine();

    @Test
    void ich9BlockRaisesSciForEnabledEventsAndClearsOnWriteOne() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.ICH9_LENGTH, sci);
        pio.register(0x600 + Gpe0Block.ICH9_OFFSET_IN_PM_BLOCK, gpe.length(), gpe);
        gpe.raise(1);
        assertThat(sci.level()).isFalse();
        assertThat(pio.read(0x620, 1)).isEqualTo(2);
        pio.write(0x628, 1, 0x02);                  // GPE0_EN bit 1
        assertThat(sci.level()).isTrue();
        assertThat(pio.read(0x628, 4)).isEqualTo(2);
        pio.write(0x620, 1, 0x01);                  // clearing another bit changes nothing
        assertThat(sci.level()).isTrue();
        pio.write(0x620, 4, 0x02);
        assertThat(sci.level()).isFalse();
        gpe.raise(40);
        pio.write(0x62d, 1, 0x01);                  // EN byte 5 bit 0 = GPE 40
        assertThat(sci.level()).isTrue();
        assertThat(pio.read(0x620, 8)).isEqualTo(1L << 40);
        assertThat(sci.risingEdges()).isEqualTo(2);
    }

    @Test
    void piix4BlockHasTwoStatusAndTwoEnableBytes() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci);
        pio.register(Gpe0Block.PIIX4_BASE, gpe.length(), gpe);
        gpe.raise(2);                                // CPU hot-plug's bit
        pio.write(Gpe0Block.PIIX4_BASE + 2, 2, 0x0004);
        assertThat(sci.level()).isTrue();
        assertThat(pio.read(Gpe0Block.PIIX4_BASE, 4)).isEqualTo(0x0004_0004L);
        assertThatThrownBy(() -> gpe.raise(16)).isInstanceOf(IllegalArgumentException.class);
        pio.write(Gpe0Block.PIIX4_BASE, 2, 0x0004);
        assertThat(sci.level()).isFalse();
    }

    @Test
    void restoreDropsBitsBeyondTheBlockAndDrivesTheLine() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci);
        gpe.restore(new Gpe0Block.State(0xffff_0002L, 0xffff_0002L));
        assertThat(gpe.state()).isEqualTo(new Gpe0Block.State(2, 2));
        assertThat(sci.level()).isTrue();
    }

    @Test
    void resetClearsEventsAndEnablesAndDropsTheSci() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.ICH9_LENGTH, sci);
        gpe.raise(2);
        gpe.write(8, 1, 4);
        assertThat(sci.level()).isTrue();
        gpe.reset();
        assertThat(gpe.state()).isEqualTo(new Gpe0Block.State(0, 0));
        assertThat(sci.level()).isFalse();
    }

    @Test
    void sharedSciStaysAssertedWhileEitherSourceAssertsIt() {
        SharedInterruptLine shared = new SharedInterruptLine(sci);
        var pm1 = shared.source();
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.ICH9_LENGTH, shared.source());
        pm1.set(true);
        gpe.raise(1);
        gpe.write(8, 1, 2);
        pm1.set(false);
        assertThat(sci.level()).isTrue();             // GPE still pending
        gpe.write(0, 1, 2);
        assertThat(sci.level()).isFalse();
        assertThat(sci.history()).containsExactly(true, false);
    }
}
