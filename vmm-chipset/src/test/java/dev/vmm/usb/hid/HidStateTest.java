package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbStateException;
import dev.vmm.usb.device.UsbTestHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A HID device's state through save and load (HID state version 2): the protocol, the queued
 * reports, the input state behind the reports (keys, LEDs, position, unreported motion) arrive
 * as they were, and a state with any field out of its range is refused with a message naming it
 * while the device keeps its own. Offsets: the standard part is 7 bytes (state, address, wake-up,
 * two halt masks), then idle rate, protocol, the queued reports (count, each length + bytes), the
 * last queued report (flag + report), the input state, the idle extras.
 */
@Timeout(30)
class HidStateTest {
    private static final int STANDARD = 7;

    private static byte[] save(HidDevice d) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        d.saveState(new DataOutputStream(b));
        return b.toByteArray();
    }

    private static void load(HidDevice d, byte[] state) throws IOException {
        d.loadState(new DataInputStream(new ByteArrayInputStream(state)), d.stateVersion());
    }

    private static byte[] with(byte[] b, int at, int... values) {
        byte[] c = b.clone();
        for (int i = 0; i < values.length; i++) c[at + i] = (byte) values[i];
        return c;
    }

    /** Where the input state starts, for a state with {@code n} queued reports of {@code len} bytes and a last one. */
    private static int inputAt(int n, int len) {
        return STANDARD + 3 + n * (1 + len) + 1 + 1 + len;
    }

    private static void refused(Supplier<HidDevice> make, byte[] state, String message) throws IOException {
        HidDevice d = make.get();
        new UsbTestHost(d).enumerate(3);
        byte[] before = save(d);
        assertThatThrownBy(() -> load(d, state)).isInstanceOf(UsbStateException.class).hasMessageContaining(message);
        assertThat(save(d)).as("refused: %s", message).containsExactly(before);
    }

    @Test
    void keyboardStateArrivesWhole() throws IOException {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost h = new UsbTestHost(k);
        h.enumerate(3);
        assertThat(h.control(0x21, 0x0b, 0, 0, 0, null).ok()).isTrue();                  // boot protocol
        assertThat(h.control(0x21, 0x09, 0x0200, 0, 1, new byte[] {0x05}).ok()).isTrue(); // LEDs
        k.event(new InputEvent.Key("shift", true));
        k.event(new InputEvent.Key("a", true));
        k.sync();
        byte[] state = save(k);
        int in = inputAt(1, 8);
        assertThat(state[STANDARD + 1]).as("protocol").isZero();
        assertThat(state[STANDARD + 2]).as("queued reports").isEqualTo((byte) 1);
        assertThat(state[in]).as("modifiers").isEqualTo((byte) 2);
        assertThat(state[in + 1]).as("LEDs").isEqualTo((byte) 5);

        UsbKeyboard copy = new UsbKeyboard();
        UsbTestHost ch = new UsbTestHost(copy);
        load(copy, state);
        assertThat(save(copy)).containsExactly(state);
        assertThat(copy.leds()).isEqualTo(5);
        assertThat(copy.queuedReports()).isEqualTo(1);
        assertThat(ch.controlIn(0xa1, 0x03, 0, 0, 1).data()).containsExactly(0);
        assertThat(ch.transfer(1, true, new byte[8]).data()).containsExactly(2, 0, 4, 0, 0, 0, 0, 0);
        // the keys are still held: releasing shift gives 'a' alone
        copy.event(new InputEvent.Key("shift", false));
        copy.sync();
        assertThat(ch.transfer(1, true, new byte[8]).data()).containsExactly(0, 0, 4, 0, 0, 0, 0, 0);

        refused(UsbKeyboard::new, with(state, STANDARD + 1, 2), "usb-kbd: HID protocol 2 is outside 0..1");
        refused(UsbKeyboard::new, with(state, STANDARD + 2, 17), "usb-kbd: queued reports 17 is outside 0..16");
        refused(UsbKeyboard::new, with(state, STANDARD + 3, 7), "usb-kbd: report length 7 is outside 8..8");
        refused(UsbKeyboard::new, with(state, in + 1, 0x20), "usb-kbd: LEDs 32 is outside 0..31");
        refused(UsbKeyboard::new, with(state, in + 2, 0, 0xe1), "usb-kbd: pressed keys 225 is outside 0..224");
        refused(UsbKeyboard::new, with(state, in + 4, 0), "usb-kbd: key usage 0 is outside 1..223");
        refused(UsbKeyboard::new, with(state, in + 4, 0xe0), "usb-kbd: key usage 224");
        // the same key twice: one more key in the count, the same usage again
        byte[] twice = new byte[state.length + 1];
        System.arraycopy(state, 0, twice, 0, in + 5);
        twice[in + 5] = 4;
        System.arraycopy(state, in + 5, twice, in + 6, state.length - in - 5);
        twice[in + 3] = 2;
        refused(UsbKeyboard::new, twice, "usb-kbd: key usage 4 pressed twice");
    }

    @Test
    void tabletAndMouseStatesAndTheirBounds() throws IOException {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        h.enumerate(3);
        t.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x7fff));
        t.event(new InputEvent.Move(true, InputEvent.Axis.Y, 0x10));
        t.event(new InputEvent.Btn(InputEvent.Button.MIDDLE, true));
        t.sync();
        assertThat(h.transfer(1, true, new byte[8]).ok()).isTrue();
        byte[] state = save(t);
        assertThat(state[STANDARD + 2]).as("nothing queued").isZero();
        assertThat(state[STANDARD + 3]).as("the last queued report is kept (for coalescing)").isEqualTo((byte) 1);
        int in = STANDARD + 3 + 1 + 1 + 6;
        UsbTablet copy = new UsbTablet();
        UsbTestHost ch = new UsbTestHost(copy);
        load(copy, state);
        assertThat(ch.controlIn(0xa1, 0x01, 0x0100, 0, 6).data()).containsExactly(4, 0xff, 0x7f, 0x10, 0, 0);
        assertThat(save(copy)).containsExactly(state);
        // x is a long: 0x8000 is past the tablet's range; buttons past 3 bits; a wheel of -128
        refused(UsbTablet::new, with(state, in + 6, 0x80, 0x00), "usb-tablet: x 32768 is outside 0..32767");
        refused(UsbTablet::new, with(state, in, 0xff), "usb-tablet: x");
        refused(UsbTablet::new, with(state, in + 16, 8), "usb-tablet: buttons 8 is outside 0..7");
        refused(UsbTablet::new, with(state, in + 17, 0x80), "usb-tablet: wheel -128 is outside -127..127");
        assertThat(DataStates.longAt(state, in + 8)).isEqualTo(0x10);

        UsbMouse m = new UsbMouse();
        UsbTestHost mh = new UsbTestHost(m);
        mh.enumerate(3);
        byte[] ms = save(m);
        assertThat(ms[STANDARD + 3]).as("no report was ever queued").isZero();
        int mi = STANDARD + 3 + 1;
        refused(UsbMouse::new, with(ms, mi + 2, 0x01, 0, 0, 0, 0, 1), "usb-mouse: x 1099511627777 is outside");
        refused(UsbMouse::new, with(ms, mi + 8, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff), "usb-mouse: y");
        // exactly 2^40 of unreported motion is accepted
        byte[] edge = with(ms, mi + 2, 0x01, 0, 0, 0, 0, 0);
        UsbMouse m2 = new UsbMouse();
        new UsbTestHost(m2).enumerate(3);
        load(m2, edge);
        assertThat(save(m2)).containsExactly(edge);
    }

    /** Big-endian longs as DataOutputStream writes them. */
    static final class DataStates {
        static long longAt(byte[] b, int at) {
            return java.nio.ByteBuffer.wrap(b, at, 8).getLong();
        }
    }
}
