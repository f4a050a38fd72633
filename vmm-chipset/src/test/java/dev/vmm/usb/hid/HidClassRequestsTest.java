package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.UsbTestHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static dev.vmm.usb.UsbPacket.Status.STALL;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The HID class requests of HID 1.11 §7.1-7.2 with each field wrong alone (a STALL, the device
 * unchanged), the protocol and LED output reports, and the interrupt endpoint's packets: a buffer
 * shorter than the report (babble), a cancelled packet, reports before configuration, a reset.
 */
@Timeout(30)
class HidClassRequestsTest {
    private static final int CLASS_IN = 0xa1, CLASS_OUT = 0x21, STD_IN_IF = 0x81;

    private static UsbTestHost configured(HidDevice d) {
        UsbTestHost h = new UsbTestHost(d);
        h.enumerate(4);
        return h;
    }

    private static void stalls(UsbTestHost.Result r, String what) {
        assertThat(r.status()).as(what).isEqualTo(STALL);
    }

    @Test
    void hidAndReportDescriptorsThroughTheInterface() {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        byte[] config = h.getDescriptor(2, 0, 0, 255).data();
        byte[] hidInConfig = DescriptorParser.configuration(config, false).interfaces().get(0).classDescriptors().get(0);
        // in any state, as the configuration holds it (HID 1.11 §7.1.1)
        assertThat(h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2100, 0, 255).data()).containsExactly(hidInConfig);
        byte[] report = h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2200, 0, 255).data();
        assertThat(report.length).isEqualTo((hidInConfig[7] & 0xff) | (hidInConfig[8] & 0xff) << 8);
        assertThat(h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2200, 0, 10).data()).containsExactly(java.util.Arrays.copyOf(report, 10));
        stalls(h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2300, 0, 255), "physical descriptor");
        stalls(h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2200, 1, 255), "interface 1");
        stalls(h.controlIn(STD_IN_IF, UsbSetup.GET_DESCRIPTOR, 0x2200, 0x0100, 255), "wIndex high byte");
        stalls(h.control(0x01, UsbSetup.GET_DESCRIPTOR, 0x2200, 0, 0, null), "host-to-device");
        stalls(h.controlIn(STD_IN_IF, UsbSetup.GET_STATUS + 0x20, 0, 0, 2), "standard request 20h to the interface");
        stalls(h.controlIn(0x82, UsbSetup.GET_DESCRIPTOR, 0x2200, 0x81, 255), "to the endpoint");
    }

    @Test
    void reportRequestsWithWrongFieldsStall() {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost h = configured(k);
        k.event(new InputEvent.Key("b", true));
        k.sync();
        assertThat(h.controlIn(CLASS_IN, 0x01, 0x0100, 0, 8).data()).containsExactly(0, 0, 0x05, 0, 0, 0, 0, 0);
        assertThat(h.controlIn(CLASS_IN, 0x01, 0x0100, 0, 3).data()).containsExactly(0, 0, 0x05);
        stalls(h.controlIn(CLASS_IN, 0x01, 0x0200, 0, 8), "GET_REPORT(Output)");
        stalls(h.controlIn(CLASS_IN, 0x01, 0x0300, 0, 8), "GET_REPORT(Feature)");
        stalls(h.control(CLASS_OUT, 0x01, 0x0100, 0, 8, new byte[8]), "GET_REPORT host-to-device");
        stalls(h.controlIn(0xc1, 0x01, 0x0100, 0, 8), "a vendor request");
        stalls(h.controlIn(0xa2, 0x01, 0x0100, 0, 8), "class request to an endpoint");
        // SET_REPORT(Output): the LEDs (five bits); other types, directions and an empty report stall
        assertThat(h.control(CLASS_OUT, 0x09, 0x0200, 0, 1, new byte[] {(byte) 0xff}).ok()).isTrue();
        assertThat(k.leds()).isEqualTo(0x1f);
        stalls(h.control(CLASS_OUT, 0x09, 0x0100, 0, 1, new byte[] {1}), "SET_REPORT(Input)");
        stalls(h.controlIn(CLASS_IN, 0x09, 0x0200, 0, 1), "SET_REPORT device-to-host");
        stalls(h.control(CLASS_OUT, 0x09, 0x0200, 0, 0, new byte[0]), "an empty output report");
        assertThat(k.leds()).isEqualTo(0x1f);
        // only the first wLength bytes of the data stage are the report
        assertThat(h.control(CLASS_OUT, 0x09, 0x0200, 0, 1, new byte[] {0x02, 0x1f}).ok()).isTrue();
        assertThat(k.leds()).isEqualTo(2);
        // a tablet has no output report
        UsbTestHost th = configured(new UsbTablet());
        stalls(th.control(CLASS_OUT, 0x09, 0x0200, 0, 1, new byte[] {1}), "tablet SET_REPORT");
    }

    @Test
    void protocolRequests() {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost h = configured(k);
        assertThat(h.controlIn(CLASS_IN, 0x03, 0, 0, 1).data()).containsExactly(1);
        stalls(h.controlIn(CLASS_IN, 0x03, 1, 0, 1), "GET_PROTOCOL wValue 1");
        stalls(h.control(CLASS_OUT, 0x03, 0, 0, 0, null), "GET_PROTOCOL host-to-device");
        stalls(h.control(CLASS_OUT, 0x0b, 0, 0, 1, new byte[1]), "SET_PROTOCOL with a data stage");
        stalls(h.controlIn(CLASS_IN, 0x0b, 0, 0, 0), "SET_PROTOCOL device-to-host");
        assertThat(h.controlIn(CLASS_IN, 0x03, 0, 0, 1).data()).containsExactly(1);
        assertThat(h.control(CLASS_OUT, 0x0b, 0, 0, 0, null).ok()).isTrue();
        assertThat(h.controlIn(CLASS_IN, 0x03, 0, 0, 1).data()).containsExactly(0);
        assertThat(h.control(CLASS_OUT, 0x0b, 1, 0, 0, null).ok()).isTrue();
        assertThat(h.controlIn(CLASS_IN, 0x03, 0, 0, 1).data()).containsExactly(1);
        // a reset goes back to the report protocol (HID 1.11 §7.2.6)
        assertThat(h.control(CLASS_OUT, 0x0b, 0, 0, 0, null).ok()).isTrue();
        k.reset();
        h.enumerate(4);
        assertThat(h.controlIn(CLASS_IN, 0x03, 0, 0, 1).data()).containsExactly(1);
        // GET_IDLE answers wLength bytes at most
        assertThat(h.controlIn(CLASS_IN, 0x02, 0, 0, 0).data()).isEmpty();
    }

    @Test
    void interruptPacketsShortBuffersCancelsAndResets() {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        // before configuration nobody listens: no report is kept, no wake-up
        t.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        t.sync();
        assertThat(t.queuedReports()).isZero();
        assertThat(h.wakeups).isEmpty();
        h.enumerate(4);
        t.event(new InputEvent.Move(true, InputEvent.Axis.X, 0x1234));
        t.sync();
        assertThat(t.queuedReports()).isEqualTo(1);
        assertThat(h.wakeups).containsExactly(1);
        // a 4-byte buffer for a 6-byte report: the first 4 bytes and babble (USB 2.0 §8.4.2.3 "more than expected")
        UsbTestHost.Result r = h.transfer(1, true, new byte[4]);
        assertThat(r.status()).isEqualTo(UsbPacket.Status.BABBLE);
        assertThat(r.data()).as("the button pressed before SET_CONFIGURATION was forgotten with it").containsExactly(0, 0x34, 0x12, 0);
        // a waiting packet the host cancels is not used for the next report
        UsbTestHost.Pending waiting = h.start(1, true, new byte[8]);
        assertThat(waiting.done).isNotDone();
        t.cancel(waiting.packet);
        assertThat(waiting.await().status()).isEqualTo(UsbPacket.Status.CANCELLED);
        t.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        t.sync();
        assertThat(waiting.completions()).isEqualTo(1);
        assertThat(t.queuedReports()).isEqualTo(1);
        // a new configuration forgets queued reports; a reset cancels waiting packets
        assertThat(h.control(0, UsbSetup.SET_CONFIGURATION, 1, 0, 0, null).ok()).isTrue();
        assertThat(t.queuedReports()).isZero();
        UsbTestHost.Pending w2 = h.start(1, true, new byte[8]);
        t.reset();
        assertThat(w2.await().status()).isEqualTo(UsbPacket.Status.CANCELLED);
        // the position is kept over a reset, the buttons are not
        h.enumerate(4);
        assertThat(h.controlIn(CLASS_IN, 0x01, 0x0100, 0, 6).data()).containsExactly(0, 0x34, 0x12, 0, 0, 0);
    }

    @Test
    void tabletWheelAndButtons() {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = configured(t);
        for (InputEvent.Button b : new InputEvent.Button[] {InputEvent.Button.RIGHT, InputEvent.Button.MIDDLE, InputEvent.Button.SIDE}) {
            t.event(new InputEvent.Btn(b, true));
        }
        t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_DOWN, true));
        t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_DOWN, true));
        t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_UP, false)); // a release is no step
        t.event(new InputEvent.Key("a", true));                        // not a tablet's
        t.event(new InputEvent.Move(false, InputEvent.Axis.X, 50));    // neither
        t.sync();
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(6, 0, 0, 0, 0, -2);
        // the wheel saturates at -127
        for (int i = 0; i < 300; i++) t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_DOWN, true));
        t.event(new InputEvent.Btn(InputEvent.Button.RIGHT, false));
        t.sync();
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(4, 0, 0, 0, 0, -127);
        for (int i = 0; i < 300; i++) t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_UP, true));
        t.event(new InputEvent.Btn(InputEvent.Button.MIDDLE, false));
        t.sync();
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(0, 0, 0, 0, 0, 127);
        assertThat(t.kinds()).containsExactlyInAnyOrder(InputEvent.Kind.ABS, InputEvent.Kind.BTN);
    }
}
