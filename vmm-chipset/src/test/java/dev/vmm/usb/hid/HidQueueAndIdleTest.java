package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;
import dev.vmm.usb.UsbPort;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;
import dev.vmm.usb.device.UsbTestHost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What PIT's survivors in {@code dev.vmm.usb.hid} showed no test asked: the tablet's wheel steps in
 * frames the host has not polled yet (relative data: none may be lost), a packet cancelled by a
 * reset never taking a later report, a loaded state replacing the reports queued before, the idle
 * deadline the device asks its port for, a loaded "no time left" idle state, and the interrupt
 * endpoint's fields within USB 2.0 §9.6.6's ranges.
 */
@Timeout(30)
class HidQueueAndIdleTest {
    private static byte[] save(HidDevice d) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        d.saveState(new DataOutputStream(b));
        return b.toByteArray();
    }

    @Test
    void tabletWheelStepsInUnpolledFramesAllArrive() {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        h.enumerate(2);
        for (int i = 0; i < 3; i++) {
            t.event(new InputEvent.Btn(InputEvent.Button.WHEEL_UP, true));
            t.sync();
        }
        int steps = 0;
        while (t.queuedReports() > 0) steps += h.transfer(1, true, new byte[6]).data()[5];
        assertThat(steps).as("wheel steps delivered").isEqualTo(3);
        // an unchanged absolute state is not queued twice
        t.sync();
        t.sync();
        assertThat(t.queuedReports()).isEqualTo(1);
    }

    @Test
    void aPacketCancelledByAResetNeverTakesALaterReport() {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost h = new UsbTestHost(k);
        h.enumerate(2);
        UsbTestHost.Pending w = h.start(1, true, new byte[8]);
        k.reset();
        assertThat(w.await().status()).isEqualTo(dev.vmm.usb.UsbPacket.Status.CANCELLED);
        h.enumerate(2);
        k.event(new InputEvent.Key("x", true));
        k.sync();
        assertThat(k.queuedReports()).as("the report waits for the next IN").isEqualTo(1);
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(0, 0, 0x1b, 0, 0, 0, 0, 0);
        assertThat(w.completions()).isEqualTo(1);
    }

    @Test
    void aLoadedStateReplacesTheQueuedReports() throws IOException {
        UsbKeyboard src = new UsbKeyboard();
        new UsbTestHost(src).enumerate(2);
        src.event(new InputEvent.Key("q", true));
        src.sync();
        byte[] state = save(src);
        UsbKeyboard dst = new UsbKeyboard();
        UsbTestHost h = new UsbTestHost(dst);
        h.enumerate(2);
        for (String key : List.of("a", "b", "c")) {
            dst.event(new InputEvent.Key(key, true));
            dst.sync();
        }
        assertThat(dst.queuedReports()).isEqualTo(3);
        dst.loadState(new DataInputStream(new ByteArrayInputStream(state)), dst.stateVersion());
        assertThat(dst.queuedReports()).isEqualTo(1);
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(0, 0, 0x14, 0, 0, 0, 0, 0);
    }

    @Test
    void theIdleDeadlineGoesToThePortAndALoadedZeroTimeLeftIsDueAtOnce() throws IOException {
        long[] now = {1_000_000};
        List<Long> polls = new ArrayList<>();
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        t.attach(new UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
            @Override public long nanoTime() { return now[0]; }
            @Override public void pollAt(long deadline) { polls.add(deadline); }
        });
        h.enumerate(2);
        assertThat(polls).as("rate 0: no deadline").isEmpty();
        assertThat(h.control(0x21, 0x0a, 10 << 8, 0, 0, null).ok()).isTrue(); // SET_IDLE 40 ms
        assertThat(polls).containsExactly(1_000_000 + 40_000_000L);
        byte[] state = save(t);
        // loaded on another machine whose clock says 5 s: the deadline it asks for is 40 ms later
        List<Long> polls2 = new ArrayList<>();
        UsbTablet moved = new UsbTablet();
        moved.attach(new UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
            @Override public long nanoTime() { return 5_000_000_000L; }
            @Override public void pollAt(long deadline) { polls2.add(deadline); }
        });
        moved.loadState(new DataInputStream(new ByteArrayInputStream(state)), moved.stateVersion());
        assertThat(polls2).containsExactly(5_000_000_000L + 40_000_000L);
        // the last 8 bytes are the time left to the next idle report: make it 0
        java.util.Arrays.fill(state, state.length - 8, state.length, (byte) 0);
        UsbTablet copy = new UsbTablet();
        UsbTestHost ch = new UsbTestHost(copy);
        copy.loadState(new DataInputStream(new ByteArrayInputStream(state)), copy.stateVersion());
        assertThat(ch.transfer(1, true, new byte[6]).ok()).as("the idle report is due at once").isTrue();
    }

    @Test
    void theInterruptEndpointFieldsAreInRange() {
        for (HidDevice d : List.of(new UsbTablet(), new UsbKeyboard(), new UsbMouse())) {
            UsbTestHost h = new UsbTestHost(d);
            int reportLength = h.enumerate(2).configBytes().length > 0
                    ? h.controlIn(0xa1, 0x01, 0x0100, 0, 64).data().length : 0;
            for (int type : new int[] {Descriptors.CONFIGURATION, Descriptors.OTHER_SPEED_CONFIGURATION}) {
                byte[] c = h.getDescriptor(type, 0, 0, 255).data();
                c[1] = Descriptors.CONFIGURATION;
                Descriptors.Endpoint ep = DescriptorParser.configuration(c, false).interfaces().get(0).endpoints().get(0);
                // a report fits in one packet; bInterval: 1..16 (2^(n-1) microframes) at high speed, 1..255 frames at full
                assertThat(ep.maxPacket()).as("%s wMaxPacketSize", d.productName()).isBetween(reportLength, 64);
                assertThat(ep.interval()).as("%s bInterval", d.productName())
                        .isBetween(1, type == Descriptors.CONFIGURATION ? 16 : 255);
            }
        }
    }

    @Test
    void keyboardSlotsModifierEdgesAndReleases() throws IOException {
        UsbKeyboard k = new UsbKeyboard();
        UsbTestHost h = new UsbTestHost(k);
        h.enumerate(2);
        // six keys fill the six slots in press order; the seventh is a rollover (HID 1.11 App. C)
        for (String key : List.of("a", "b", "c", "d", "e", "f")) k.event(new InputEvent.Key(key, true));
        k.event(new InputEvent.Key("ctrl", true));   // E0h: bit 0
        k.event(new InputEvent.Key("meta_r", true)); // E7h: bit 7
        k.sync();
        assertThat(h.transfer(1, true, new byte[8]).data()).containsExactly(0x81, 0, 4, 5, 6, 7, 8, 9);
        // the same state again (a key's autorepeat) is not a second report: the keyboard's state is absolute
        k.event(new InputEvent.Key("a", true));
        k.sync();
        k.event(new InputEvent.Key("a", true));
        k.sync();
        assertThat(k.queuedReports()).isEqualTo(1);
        h.transfer(1, true, new byte[8]);
        // a reset releases every key (the LEDs too)
        k.reset();
        h.enumerate(2);
        assertThat(h.controlIn(0xa1, 0x01, 0x0100, 0, 8).data()).containsOnly(0);
        // a loaded state replaces the keys held before
        UsbKeyboard src = new UsbKeyboard();
        new UsbTestHost(src).enumerate(2);
        src.event(new InputEvent.Key("q", true));
        src.sync();
        byte[] state = save(src);
        k.event(new InputEvent.Key("z", true));
        k.sync();
        k.loadState(new DataInputStream(new ByteArrayInputStream(state)), k.stateVersion());
        assertThat(h.controlIn(0xa1, 0x01, 0x0100, 0, 8).data()).containsExactly(0, 0, 0x14, 0, 0, 0, 0, 0);
    }

    @Test
    void aTabletButtonPressReleasedBeforeThePollIsStillSeen() {
        UsbTablet t = new UsbTablet();
        UsbTestHost h = new UsbTestHost(t);
        h.enumerate(2);
        t.event(new InputEvent.Btn(InputEvent.Button.LEFT, true));
        t.sync();
        t.event(new InputEvent.Btn(InputEvent.Button.LEFT, false));
        t.sync();
        assertThat(t.queuedReports()).isEqualTo(2);
        assertThat(h.transfer(1, true, new byte[6]).data()[0]).isEqualTo((byte) 1);
        assertThat(h.transfer(1, true, new byte[6]).data()[0]).isEqualTo((byte) 0);
    }
}
