package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.testing.RecordingLine;
import org.junit.jupiter.api.Test;

/** GPE0 block limits {@link Gpe0BlockTest} leaves open (PIT's surviving mutants): lengths, bits and bytes exactly at the ends. */
class Gpe0BlockEdgesTest {
    private final RecordingLine sci = new RecordingLine();

    @Test
    void lengthsTwoToSixteenEvenOnly() {
        assertThat(new Gpe0Block(2, sci).length()).isEqualTo(2);
        assertThat(new Gpe0Block(16, sci).length()).isEqualTo(16);
        for (int bad : new int[] {0, 1, 3, 18}) {
            assertThatThrownBy(() -> new Gpe0Block(bad, sci)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void raiseAcceptsEveryStatusBitAndNothingElse() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci);
        gpe.write(2, 2, 0x8001);  // enable bits 0 and 15
        gpe.raise(15);
        assertThat(sci.level()).as("raise drives the SCI by itself").isTrue();
        gpe.raise(0);
        assertThat(gpe.read(0, 2)).isEqualTo(0x8001);
        assertThatThrownBy(() -> gpe.raise(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> gpe.raise(16)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void bytesOutsideTheBlockReadZeroAndIgnoreWrites() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci);
        gpe.raise(3);
        gpe.write(2, 2, 0xffff);
        gpe.write(4, 4, -1L);      // just past the enable half
        gpe.write(-1, 1, 0xff);    // just before the status half
        assertThat(gpe.state()).isEqualTo(new Gpe0Block.State(1 << 3, 0xffff));
        assertThat(gpe.read(-1, 1)).isZero();
        assertThat(gpe.read(4, 1)).isZero();
        // a dword read from offset 1: status byte 1, enable bytes 0 and 1, then nothing
        assertThat(gpe.read(1, 4)).isEqualTo(0x00ff_ff00L);
        // byte writes: the first enable byte and the last one are each set alone
        gpe.write(2, 1, 0);
        assertThat(gpe.read(2, 2)).isEqualTo(0xff00);
        gpe.write(3, 1, 0x12);
        assertThat(gpe.read(2, 2)).isEqualTo(0x1200);
        // writing 1 to the last status byte clears only that byte's bit
        gpe.raise(9);
        gpe.write(1, 1, 0x02);
        assertThat(gpe.read(0, 2)).isEqualTo(1 << 3);
    }

    @Test
    void anEightByteHalfRestoresWhole() {
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.ICH9_LENGTH, sci);
        gpe.restore(new Gpe0Block.State(-1L, 1L << 63));
        assertThat(gpe.state()).isEqualTo(new Gpe0Block.State(-1L, 1L << 63));
        assertThat(sci.level()).isTrue();
        Gpe0Block six = new Gpe0Block(12, sci);
        six.restore(new Gpe0Block.State(-1L, -1L));
        assertThat(six.state()).isEqualTo(new Gpe0Block.State(0xffff_ffff_ffffL, 0xffff_ffff_ffffL));
    }
}
