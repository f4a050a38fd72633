package dev.vmm.usb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The shared USB types: a packet is completed once with a length inside its buffer (USB 2.0
 * §8.5: a transfer ends once), a SETUP packet decodes as USB 2.0 §9.3 lays it out, the state
 * check's bounds are inclusive, speeds carry xHCI's default Protocol Speed IDs (xHCI 1.2
 * §7.2.2.1.1), and the sink over a hub plugs into any free port.
 */
@Timeout(30)
class UsbTypesTest {
    private static UsbPacket packet(int ep, UsbSetup setup, int length, List<UsbPacket> completions) {
        return new UsbPacket(ep, true, setup, new byte[length], completions::add);
    }

    @Test
    void aPacketCompletesOnceWithinItsBuffer() {
        List<UsbPacket> done = new ArrayList<>();
        UsbPacket p = packet(15, null, 8, done);
        assertThat(p.completed()).isFalse();
        assertThat(p.status()).isNull();
        assertThat(p.toString()).isEqualTo("UsbPacket[ep15 in, 8 bytes]");
        assertThatThrownBy(() -> p.complete(UsbPacket.Status.SUCCESS, 9)).isInstanceOf(IllegalArgumentException.class).hasMessage("length 9 of 8");
        assertThatThrownBy(() -> p.complete(UsbPacket.Status.SUCCESS, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(p.completed()).as("a refused completion completes nothing").isFalse();
        assertThat(p.complete(UsbPacket.Status.SUCCESS, 8)).isTrue();
        assertThat(p.completed()).isTrue();
        assertThat(p.complete(UsbPacket.Status.STALL, 0)).as("the second one is ignored").isFalse();
        assertThat(done).containsExactly(p);
        assertThat(p.status()).isEqualTo(UsbPacket.Status.SUCCESS);
        assertThat(p.actualLength()).isEqualTo(8);
        assertThat(p.toString()).isEqualTo("UsbPacket[ep15 in, 8 bytes, SUCCESS 8]");
        UsbPacket empty = new UsbPacket(1, false, null, new byte[0], q -> { });
        assertThat(empty.complete(UsbPacket.Status.SUCCESS, 0)).isTrue();
        assertThat(empty.in()).isFalse();
        assertThat(empty.endpoint()).isEqualTo(1);
        assertThat(empty.toString()).startsWith("UsbPacket[ep1 out");
        assertThatThrownBy(() -> packet(1, null, 1, done).complete(null, 0)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void aPacketNamesAValidEndpointAndHasASetupOnlyOnEndpointZero() {
        UsbSetup s = new UsbSetup(0x80, 6, 0x100, 0, 18);
        List<UsbPacket> none = new ArrayList<>();
        assertThat(packet(0, s, 18, none).setup()).isSameAs(s);
        assertThat(packet(0, s, 18, none).toString()).contains("UsbSetup[requestType=128");
        assertThatThrownBy(() -> packet(-1, null, 1, none)).isInstanceOf(IllegalArgumentException.class).hasMessage("endpoint -1");
        assertThatThrownBy(() -> packet(16, null, 1, none)).isInstanceOf(IllegalArgumentException.class).hasMessage("endpoint 16");
        assertThatThrownBy(() -> packet(0, null, 1, none)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> packet(1, s, 1, none)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new UsbPacket(1, true, null, null, p -> { })).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new UsbPacket(1, true, null, new byte[1], null)).isInstanceOf(NullPointerException.class);
    }

    @Test
    void setupDecodesLittleEndianFields() {
        // bytes on the wire: A1 0A 34 12 78 56 BC 9A
        UsbSetup s = UsbSetup.decode(0x9abc_5678_1234_0aa1L);
        assertThat(s).isEqualTo(new UsbSetup(0xa1, 0x0a, 0x1234, 0x5678, 0x9abc));
        assertThat(s.in()).isTrue();
        assertThat(s.type()).isEqualTo(UsbSetup.TYPE_CLASS);
        assertThat(s.recipient()).isEqualTo(UsbSetup.RECIPIENT_INTERFACE);
        UsbSetup all = UsbSetup.decode(-1L);
        assertThat(all).isEqualTo(new UsbSetup(0xff, 0xff, 0xffff, 0xffff, 0xffff));
        assertThat(all.type()).isEqualTo(0x60);
        assertThat(all.recipient()).isEqualTo(0x1f);
        UsbSetup out = UsbSetup.decode(0x0000_0000_0001_0902L);
        assertThat(out.in()).isFalse();
        assertThat(out.type()).isEqualTo(UsbSetup.TYPE_STANDARD);
        assertThat(out.recipient()).isEqualTo(UsbSetup.RECIPIENT_ENDPOINT);
        assertThat(out.value()).isEqualTo(1);
        assertThat(UsbSetup.decode(0x4000_0000_0000_0040L).type()).isEqualTo(UsbSetup.TYPE_VENDOR);
    }

    @Test
    void stateCheckBoundsAreInclusive() throws UsbStateException {
        assertThat(UsbStateException.check("x", 0, 0, 2)).isZero();
        assertThat(UsbStateException.check("x", 2, 0, 2)).isEqualTo(2);
        assertThatThrownBy(() -> UsbStateException.check("usb: x", 3, 0, 2)).isInstanceOf(UsbStateException.class)
                .hasMessage("usb: x 3 is outside 0..2");
        assertThatThrownBy(() -> UsbStateException.check("x", -1, 0, 2)).isInstanceOf(UsbStateException.class);
    }

    @Test
    void speedsCarryTheirProtocolSpeedIdsAndPacketSizes() {
        assertThat(List.of(UsbSpeed.FULL.xhciSpeedId, UsbSpeed.LOW.xhciSpeedId, UsbSpeed.HIGH.xhciSpeedId, UsbSpeed.SUPER.xhciSpeedId))
                .containsExactly(1, 2, 3, 4);
        assertThat(List.of(UsbSpeed.LOW.controlMaxPacket, UsbSpeed.FULL.controlMaxPacket, UsbSpeed.HIGH.controlMaxPacket,
                UsbSpeed.SUPER.controlMaxPacket)).containsExactly(8, 64, 64, 512);
        assertThat(UsbSpeed.values()).filteredOn(UsbSpeed::superSpeed).containsExactly(UsbSpeed.SUPER);
    }

    @Test
    void theSinkOverAHubTakesAnyFreePortAndUnplugsAtOnce() {
        List<String> calls = new ArrayList<>();
        UsbDevice device = new UsbDevice() {
            public UsbSpeed speed() { return UsbSpeed.HIGH; }
            public String productName() { return "d"; }
            public void attach(UsbPort port) { }
            public void detach() { }
            public void reset() { }
            public void handle(UsbPacket packet) { }
            public void cancel(UsbPacket packet) { }
        };
        UsbHub hub = new UsbHub() {
            public int plug(UsbDevice d, int portOrZero) {
                calls.add("plug " + d.productName() + " " + portOrZero);
                return 7;
            }
            public void unplug(UsbDevice d) { calls.add("unplug " + d.productName()); }
            public List<Port> ports() { return List.of(); }
        };
        UsbDeviceSink sink = UsbDeviceSink.of(hub);
        assertThat(sink.plug(device)).isEqualTo(7);
        CompletableFuture<Void> gone = sink.unplug(device);
        assertThat(calls).containsExactly("plug d 0", "unplug d");
        assertThat(gone).isCompleted();
        // the defaults: no clock of its own, polls ignored, nothing to wait for
        UsbPort port = new UsbPort() {
            public int number() { return 1; }
            public void wakeup(int endpoint) { }
        };
        long before = System.nanoTime();
        long t = port.nanoTime();
        assertThat(t - before).isGreaterThanOrEqualTo(0);
        assertThat(System.nanoTime() - t).isGreaterThanOrEqualTo(0);
        port.pollAt(0);
        device.poll(0);
        SaveableUsbDevice saveable = new SaveableUsbDevice() {
            public int stateVersion() { return 1; }
            public void saveState(java.io.DataOutputStream out) { }
            public void loadState(java.io.DataInputStream in, int version) { }
            public UsbSpeed speed() { return UsbSpeed.FULL; }
            public String productName() { return "s"; }
            public void attach(UsbPort p) { }
            public void detach() { }
            public void reset() { }
            public void handle(UsbPacket p) { }
            public void cancel(UsbPacket p) { }
        };
        try {
            assertThat(saveable.quiesce(0)).as("nothing to wait for by default").isTrue();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
