package dev.vmm.chipset.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.chipset.testing.RecordingLine;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class I8042Test {
    static final int DATA = 0, CMD = 4;
    static final int OBF = 0x01, AUXDATA = 0x20, TIMEOUT = 0x40;

    final RecordingLine irq1 = new RecordingLine();
    final RecordingLine irq12 = new RecordingLine();
    final AtomicInteger resets = new AtomicInteger();
    final I8042 kbc = new I8042(irq1, irq12, resets::incrementAndGet);

    int status() { return (int) kbc.read(CMD, 1); }

    int data() { return (int) kbc.read(DATA, 1); }

    void command(int c) { kbc.write(CMD, 1, c); }

    void data(int v) { kbc.write(DATA, 1, v); }

    /** Like Linux's i8042_command(): send a command (and parameter), poll for the answer. */
    int commandWithReply(int c, Integer param) {
        assertThat(status() & 0x02).as("input buffer never full").isZero();
        command(c);
        if (param != null) data(param);
        assertThat(status() & OBF).as("reply to 0x%x ready", c).isEqualTo(OBF);
        return data();
    }

    List<Integer> drain() {
        List<Integer> out = new ArrayList<>();
        while ((status() & OBF) != 0) out.add(data());
        return out;
    }

    @Test
    void statusLooksLikeAPresentIdleController() {
        int s = status();
        assertThat(s).isNotEqualTo(0xff);
        assertThat(s & OBF).isZero();
        assertThat(s & 0x10).as("keyboard not inhibited").isNotZero();
        assertThat(s & 0x04).as("system flag").isNotZero();
    }

    @Test
    void commandByteReadWrite() {
        assertThat(commandWithReply(0x20, null)).isEqualTo(0x47);
        command(0x60);
        assertThat(status() & 0x08).as("last write was a command").isNotZero();
        data(0x74);
        assertThat(status() & 0x08).isZero();
        assertThat(kbc.commandByte()).isEqualTo(0x74);
        assertThat(commandWithReply(0x20, null)).isEqualTo(0x74);
        // The other RAM bytes.
        command(0x65);
        data(0x99);
        assertThat(commandWithReply(0x25, null)).isEqualTo(0x99);
    }

    @Test
    void selfTestAndInterfaceTests() {
        assertThat(commandWithReply(0xaa, null)).isEqualTo(0x55);
        assertThat(commandWithReply(0xab, null)).isZero();
        assertThat(commandWithReply(0xa9, null)).isZero();
    }

    @Test
    void portEnableDisableBits() {
        command(0xad);
        command(0xa7);
        assertThat(kbc.commandByte() & 0x30).isEqualTo(0x30);
        command(0xae);
        command(0xa8);
        assertThat(kbc.commandByte() & 0x30).isZero();
    }

    @Test
    void resetPulseCallsTheCallback() {
        command(0xfe);
        assertThat(resets).hasValue(1);
        command(0xff); // pulses nothing (bit 0 set)
        assertThat(resets).hasValue(1);
        command(0xf0); // pulses all four lines, including reset
        assertThat(resets).hasValue(2);
    }

    @Test
    void outputPortWriteWithResetBitClearResets() {
        assertThat(commandWithReply(0xd0, null) & 0x01).isEqualTo(1);
        command(0xd1);
        data(0x03);
        assertThat(resets).hasValue(0);
        command(0xd1);
        data(0x02);
        assertThat(resets).hasValue(1);
    }

    /** The sequence of i8042_controller_check/init, i8042_check_aux and i8042_check_mux in Linux. */
    @Test
    void linuxProbeSequence() {
        assertThat(drain()).isEmpty(); // i8042_flush
        int ctr1 = commandWithReply(0x20, null);
        int ctr2 = commandWithReply(0x20, null);
        assertThat(ctr1).isEqualTo(ctr2);
        // Interrupts off, both ports disabled, while probing.
        int ctr = (ctr1 | 0x30) & ~0x03;
        command(0x60);
        data(ctr);
        assertThat(commandWithReply(0xaa, null)).isEqualTo(0x55);

        // i8042_check_aux: AUX loopback must echo with AUXDATA.
        command(0xd3);
        data(0x5a);
        assertThat(status() & (OBF | AUXDATA)).isEqualTo(OBF | AUXDATA);
        assertThat(data()).isEqualTo(0x5a);
        command(0xa7);
        assertThat(commandWithReply(0x20, null) & 0x20).isNotZero();
        command(0xa8);
        assertThat(commandWithReply(0x20, null) & 0x20).isZero();

        // i8042_check_mux: the third loopback byte comes back unchanged => not a MUX controller.
        for (int v : new int[] {0xf0, 0x56, 0xa4}) {
            command(0xd3);
            data(v);
            assertThat(status() & AUXDATA).isNotZero();
            assertThat(data()).isEqualTo(v);
        }

        // AUX IRQ delivery test: enable the AUX interrupt, loop a byte, expect IRQ 12.
        ctr = commandWithReply(0x20, null);
        command(0x60);
        data((ctr & ~0x20) | 0x02);
        assertThat(irq12.level()).isFalse();
        command(0xd3);
        data(0xa5);
        assertThat(irq12.level()).isTrue();
        assertThat(irq1.level()).isFalse();
        assertThat(data()).isEqualTo(0xa5);
        assertThat(irq12.level()).isFalse();
    }

    @Test
    void auxWritesWithNoMouseTimeOutAtOnce() {
        command(0xd4);
        data(0xff); // PSMOUSE reset
        assertThat(status() & (OBF | AUXDATA | TIMEOUT)).isEqualTo(OBF | AUXDATA | TIMEOUT);
        assertThat(irq12.level()).isTrue();
        assertThat(data()).isEqualTo(0xfe);
        assertThat(status() & (OBF | TIMEOUT)).isZero();
    }

    @Test
    void keyboardIdentifyRaisesOneEdgePerByte() {
        data(0xf2);
        assertThat(irq1.level()).isTrue();
        assertThat(drain()).containsExactly(0xfa, 0xab, 0x41); // translated (command byte XLATE set)
        assertThat(irq1.level()).isFalse();
        assertThat(irq1.risingEdges()).isEqualTo(3);

        command(0x60);
        data(0x07); // translation off
        data(0xf2);
        assertThat(drain()).containsExactly(0xfa, 0xab, 0x83);
    }

    @Test
    void keyboardCommandsAtkbdUses() {
        data(0xff);
        assertThat(drain()).containsExactly(0xfa, 0xaa);
        data(0xed);
        data(0x04);
        assertThat(drain()).containsExactly(0xfa, 0xfa);
        assertThat(kbc.keyboardLeds()).isEqualTo(4);
        data(0xf3);
        data(0x20);
        assertThat(drain()).containsExactly(0xfa, 0xfa);
        data(0xf5);
        data(0xf4);
        assertThat(drain()).containsExactly(0xfa, 0xfa);
        data(0xee);
        assertThat(drain()).containsExactly(0xee);
        data(0xf0);
        data(0x00);
        assertThat(drain()).containsExactly(0xfa, 0xfa, 0x41); // ack, ack of the parameter, set 2 as translated
        data(0xf0);
        data(0x09);
        assertThat(drain()).containsExactly(0xfa, 0xfe);
        data(0x12); // not a command
        assertThat(drain()).containsExactly(0xfe);
        data(0xfe); // resend the last byte
        assertThat(drain()).containsExactly(0xfe);
    }

    @Test
    void keyboardBytesWaitWhileTheInterfaceIsDisabled() {
        command(0xad);
        data(0xf4);
        assertThat(status() & OBF).isZero();
        assertThat(irq1.level()).isFalse();
        command(0xae);
        assertThat(irq1.level()).isTrue();
        assertThat(drain()).containsExactly(0xfa);
    }

    @Test
    void noKeyboardInterruptWhenDisabledInCommandByte() {
        command(0x60);
        data(0x44);
        data(0xf4);
        assertThat(status() & OBF).isEqualTo(OBF);
        assertThat(irq1.level()).isFalse();
        command(0x60);
        data(0x45);
        assertThat(irq1.level()).isTrue();
    }

    @Test
    void injectedBytesArriveInOrderUnlessScanningIsOff() {
        assertThat(kbc.injectKeyboardBytes((byte) 0x1e, (byte) 0x9e)).isEqualTo(2);
        assertThat(drain()).containsExactly(0x1e, 0x9e);
        data(0xf5);
        drain();
        assertThat(kbc.injectKeyboardBytes((byte) 0x1e)).isZero();
        byte[] many = new byte[40];
        data(0xf4);
        drain();
        assertThat(kbc.injectKeyboardBytes(many)).isEqualTo(16);
    }

    @Test
    void unusedOffsetsReadAllOnes() {
        assertThat(kbc.read(1, 1)).isEqualTo(0xff);
        assertThat(kbc.read(3, 1)).isEqualTo(0xff);
        kbc.write(2, 1, 0x12); // ignored
        assertThat(drain()).isEmpty();
    }

    @Test
    void resetRestoresPowerOnState() {
        command(0x60);
        data(0x00);
        data(0xf2);
        kbc.reset();
        assertThat(kbc.commandByte()).isEqualTo(0x47);
        assertThat(status() & OBF).isZero();
    }

    @Test
    void stateRoundTripKeepsQueuedBytesAndLines() {
        command(0x65);
        data(0x77);
        data(0xf2); // fa ab 41 queued, fa in the output buffer
        data(); // take fa; ab now in the buffer
        I8042.State s = kbc.state();
        RecordingLine k = new RecordingLine(), a = new RecordingLine();
        I8042 copy = new I8042(k, a, () -> { });
        copy.restore(s);
        assertThat(copy.state()).usingRecursiveComparison().isEqualTo(s);
        assertThat(k.level()).isTrue();
        assertThat(copy.read(DATA, 1)).isEqualTo(0xab);
        assertThat(copy.read(DATA, 1)).isEqualTo(0x41);
        copy.write(CMD, 1, 0x25);
        assertThat(copy.read(DATA, 1)).isEqualTo(0x77);
    }
}
