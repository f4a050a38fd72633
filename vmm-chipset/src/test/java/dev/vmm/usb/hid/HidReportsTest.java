package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;
import dev.vmm.input.InputEvent.Axis;
import dev.vmm.input.InputEvent.Button;
import dev.vmm.input.InputRouter;
import dev.vmm.input.KeyCodes;
import dev.vmm.usb.UsbPacket;
import dev.vmm.usb.UsbSetup;
import dev.vmm.usb.device.UsbTestHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Tablet, keyboard and mouse reports, class requests and the bounded report queue. */
@Timeout(30)
class HidReportsTest {
    private static final int CLASS_IF = UsbSetup.TYPE_CLASS | UsbSetup.RECIPIENT_INTERFACE;

    private static InputEvent abs(Axis a, long v) { return new InputEvent.Move(true, a, v); }

    @Test
    void tabletReportWaitsForAnEventThenCarriesIt() {
        UsbTablet t = new UsbTablet();
        UsbTestHost host = new UsbTestHost(t);
        host.enumerate(1);
        UsbTestHost.Pending poll = host.start(1, true, new byte[8]);
        assertThat(poll.done).isNotDone();
        InputRouter router = new InputRouter();
        router.register(t);
        router.send(List.of(abs(Axis.X, 0x4000), abs(Axis.Y, 0x7fff), new InputEvent.Btn(Button.LEFT, true),
                new InputEvent.Btn(Button.WHEEL_UP, true)));
        UsbTestHost.Result r = poll.await();
        assertThat(r.ok()).isTrue();
        assertThat(r.data()).containsExactly(1, 0x00, 0x40, 0xff, 0x7f, 1);
        // Out-of-range positions are clamped; the wheel step was reported once.
        router.send(List.of(abs(Axis.X, 99999), abs(Axis.Y, -5), new InputEvent.Btn(Button.LEFT, false)));
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(0, 0xff, 0x7f, 0, 0, 0);
        assertThat(host.wakeups).contains(1);
        // GET_REPORT(Input) is the current state.
        assertThat(host.controlIn(CLASS_IF, 0x01, 0x0100, 0, 6).data()).containsExactly(0, 0xff, 0x7f, 0, 0, 0);
    }

    @Test
    void motionCoalescesAndTheQueueIsBounded() {
        UsbTablet t = new UsbTablet();
        UsbTestHost host = new UsbTestHost(t);
        host.enumerate(1);
        for (int i = 0; i < 10_000; i++) {
            t.event(abs(Axis.X, i));
            t.sync();
        }
        assertThat(t.queuedReports()).isEqualTo(1); // pure motion: only the last position waits
        for (int i = 0; i < 100; i++) {
            t.event(new InputEvent.Btn(Button.RIGHT, i % 2 == 0));
            t.sync();
        }
        assertThat(t.queuedReports()).isLessThanOrEqualTo(HidDevice.QUEUE_CAPACITY);
        byte[] last = null;
        UsbTestHost.Result r;
        int n = 0;
        while (t.queuedReports() > 0) {
            r = host.transfer(1, true, new byte[6]);
            last = r.data();
            n++;
        }
        assertThat(n).isLessThanOrEqualTo(HidDevice.QUEUE_CAPACITY);
        assertThat(last[0]).isEqualTo((byte) 0); // the final state (right released) is always delivered
        assertThat((last[1] & 0xff) | (last[2] & 0xff) << 8).isEqualTo(9999);
    }

    @Test
    void keyboardReportsKeysModifiersAndRollover() {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost host = new UsbTestHost(k);
        host.enumerate(1);
        k.event(new InputEvent.Key("shift", true));
        k.event(new InputEvent.Key("a", true));
        k.sync();
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(0x02, 0, 0x04, 0, 0, 0, 0, 0);
        for (String key : List.of("b", "c", "d", "e", "f", "g")) k.event(new InputEvent.Key(key, true));
        k.sync();
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(0x02, 0, 1, 1, 1, 1, 1, 1);
        for (String key : List.of("a", "b", "c", "d", "e", "f", "g", "shift")) k.event(new InputEvent.Key(key, false));
        k.event(new InputEvent.Key(KeyCodes.fromNumber(0x9c), true)); // E0 1C: keypad Enter
        k.event(new InputEvent.Key("ctrl_r", true));
        k.sync();
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(0x10, 0, 0x58, 0, 0, 0, 0, 0);
    }

    @Test
    void keyboardClassRequests() {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost host = new UsbTestHost(k);
        // Class requests need the configured state.
        assertThat(host.controlIn(CLASS_IF, 0x03, 0, 0, 1).status()).isEqualTo(UsbPacket.Status.STALL);
        host.enumerate(1);
        assertThat(host.controlIn(CLASS_IF, 0x03, 0, 0, 1).data()).containsExactly(1); // report protocol
        assertThat(host.control(CLASS_IF, 0x0b, 0, 0, 0, null).ok()).isTrue();       // SET_PROTOCOL boot
        assertThat(host.controlIn(CLASS_IF, 0x03, 0, 0, 1).data()).containsExactly(0);
        assertThat(host.control(CLASS_IF, 0x0b, 2, 0, 0, null).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.control(CLASS_IF, 0x0a, 0x7d00, 0, 0, null).ok()).isTrue();  // SET_IDLE 500 ms
        assertThat(host.controlIn(CLASS_IF, 0x02, 0, 0, 1).data()).containsExactly(0x7d);
        assertThat(host.control(CLASS_IF, 0x09, 0x0200, 0, 1, new byte[] {0x03}).ok()).isTrue(); // LEDs
        assertThat(k.leds()).isEqualTo(3);
        assertThat(host.control(CLASS_IF, 0x09, 0x0300, 0, 1, new byte[] {0x03}).status()).isEqualTo(UsbPacket.Status.STALL);
        assertThat(host.controlIn(CLASS_IF, 0x01, 0x0100, 0, 8).data()).hasSize(8);
        assertThat(host.controlIn(CLASS_IF, 0x01, 0x0100, 1, 8).status()).isEqualTo(UsbPacket.Status.STALL); // interface 1
        assertThat(host.controlIn(CLASS_IF, 0x55, 0, 0, 8).status()).isEqualTo(UsbPacket.Status.STALL);
    }

    @Test
    void qcodesMapToKeyboardUsages() {
        assertThat(KeyCodes.hidUsage("a")).isEqualTo(0x04);
        assertThat(KeyCodes.hidUsage("0")).isEqualTo(0x27);
        assertThat(KeyCodes.hidUsage("ret")).isEqualTo(0x28);
        assertThat(KeyCodes.hidUsage("f12")).isEqualTo(0x45);
        assertThat(KeyCodes.hidUsage("kp_0")).isEqualTo(0x62);
        assertThat(KeyCodes.hidUsage("up")).isEqualTo(0x52);
        assertThat(KeyCodes.hidUsage("meta_r")).isEqualTo(0xe7);
        assertThat(KeyCodes.hidUsage("mail")).isZero();
        assertThat(KeyCodes.fromNumber(0x1e)).isEqualTo("a");
        assertThat(KeyCodes.fromNumber(0x58)).isEqualTo("f12");
        assertThat(KeyCodes.fromNumber(0xc8)).isEqualTo("up");
        assertThat(KeyCodes.fromNumber(0x7ff)).isEqualTo("unmapped");
        // Usages are unique but for the two '*' keys and Print Screen / SysRq (one key on a PC keyboard).
        long withUsage = KeyCodes.QCODES.stream().filter(q -> KeyCodes.hidUsage(q) != 0).count();
        long distinct = KeyCodes.QCODES.stream().mapToInt(KeyCodes::hidUsage).filter(u -> u != 0).distinct().count();
        assertThat(withUsage - distinct).isEqualTo(2);
    }

    @Test
    void routerPrefersTheNewestHandler() {
        InputRouter r = new InputRouter();
        UsbTablet a = new UsbTablet(), b = new UsbTablet();
        UsbKeyboard k = new UsbKeyboard();
        r.register(a);
        r.register(k);
        r.register(b);
        assertThat(r.handlerFor(InputEvent.Kind.ABS)).isSameAs(b);
        assertThat(r.handlerFor(InputEvent.Kind.KEY)).isSameAs(k);
        assertThat(r.handlerFor(InputEvent.Kind.REL)).isNull();
        r.unregister(b);
        assertThat(r.handlerFor(InputEvent.Kind.BTN)).isSameAs(a);
    }

    @Test
    void mouseReportsRelativeMotionSplitIntoBytesWithoutLosingAny() {
        UsbMouse m = new UsbMouse();
        UsbTestHost host = new UsbTestHost(m);
        host.enumerate(1);
        InputRouter router = new InputRouter();
        router.register(m);
        assertThat(router.handlerFor(InputEvent.Kind.REL)).isSameAs(m);
        // 300 right and 10 up with the left button and a wheel step: 127 + 127 + 46 in three reports.
        router.send(List.of(new InputEvent.Move(false, Axis.X, 300), new InputEvent.Move(false, Axis.Y, -10),
                new InputEvent.Btn(Button.LEFT, true), new InputEvent.Btn(Button.WHEEL_DOWN, true)));
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(1, 127, -10, -1);
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(1, 127, 0, 0);
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(1, 46, 0, 0);
        // Two equal motions are two reports (a tablet would send its position once).
        router.send(List.of(new InputEvent.Move(false, Axis.X, 5)));
        router.send(List.of(new InputEvent.Move(false, Axis.X, 5)));
        assertThat(m.queuedReports()).isEqualTo(2);
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(1, 5, 0, 0);
        assertThat(host.transfer(1, true, new byte[8]).data()).containsExactly(1, 5, 0, 0);
        // A huge move fills at most the queue and never overflows the accumulator.
        m.event(new InputEvent.Move(false, Axis.Y, Long.MAX_VALUE));
        m.sync();
        assertThat(m.queuedReports()).isEqualTo(HidDevice.QUEUE_CAPACITY);
        for (int i = 0; i < HidDevice.QUEUE_CAPACITY; i++) assertThat(host.transfer(1, true, new byte[8]).data()[2]).isEqualTo((byte) 127);
        UsbTestHost.Pending nothingLeft = host.start(1, true, new byte[8]);
        assertThat(nothingLeft.done).as("the rest was dropped with the last report, not kept").isNotDone();
        // Boot protocol devices: subclass 1, protocol 2 (mouse).
        byte[] cfg = host.getDescriptor(2, 0, 0, 255).data();
        assertThat(new byte[] {cfg[9 + 5], cfg[9 + 6], cfg[9 + 7]}).as("interface class, subclass, protocol").containsExactly(3, 1, 2);
    }
}
