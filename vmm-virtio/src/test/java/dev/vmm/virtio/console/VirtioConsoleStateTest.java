package dev.vmm.virtio.console;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.virtio.console.ConsoleControl.*;
import static dev.vmm.virtio.console.ConsoleControl.Event.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * virtio-console's part of a snapshot: ports as the guest knows them (ready, opened), control
 * messages it has not received yet, and a transmit chain the backend took only part of (given
 * back, and continued after the bytes already written, not repeated); the destination must have
 * the same ports.
 */
class VirtioConsoleStateTest {
    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    /** The non-25 field of the RESIZE messages in {@code msgs} (cols; rows is always 25 here). */
    static List<Integer> sizes(List<ConsoleGuest.Msg> msgs) {
        List<Integer> out = new ArrayList<>();
        for (ConsoleGuest.Msg m : msgs) {
            if (m.event() != RESIZE.code()) continue;
            int a = (m.extra()[0] & 0xFF) | (m.extra()[1] & 0xFF) << 8, c = (m.extra()[2] & 0xFF) | (m.extra()[3] & 0xFF) << 8;
            out.add(a == 25 ? c : a);
        }
        return out;
    }

    @Test
    void portsPendingControlMessagesAndAHalfWrittenChainSurviveTheRoundTrip() throws Exception {
        RecordingBackend consoleA = new RecordingBackend(true), portA = new RecordingBackend(true);
        VirtioConsole a = new VirtioConsole(4, 80, 25, consoleA);
        ConsoleGuest guest = new ConsoleGuest(a);
        RecordingBackend consoleB = new RecordingBackend(true), portB = new RecordingBackend(true);
        VirtioConsole b = new VirtioConsole(4, 80, 25, consoleB);
        try {
            int id = a.addPort("org.example.agent", portA); // added after construction, as a hot-add is
            guest.handshake();
            guest.sendControl(id, PORT_OPEN, 1);
            assertThat(portA.guestOpenEvents).containsExactly(true);
            // 8 control buffers are posted: 10 resizes leave 2 messages waiting in the device.
            for (int i = 0; i < 10; i++) a.resize(80 + i, 25);
            // The console's backend takes 3 of 6 bytes: the chain stays held.
            consoleA.acceptLimit = 3;
            int head = guest.write(0, b("abcdef"));
            assertThat(consoleA.text()).isEqualTo("abc");

            int[] rewind = a.quiesce();
            int[] expected = new int[a.queueCount()];
            expected[ConsoleGuest.tx(0)] = 1;
            assertThat(rewind).containsExactly(expected);
            byte[] state = a.saveState();

            b.addPort("org.example.agent", portB);
            guest.restoreInto(b, a.stateVersion(), state, rewind);
            // The held chain continues after "abc" on the destination's backend, and completes.
            assertThat(consoleB.text()).isEqualTo("def");
            assertThat(guest.drivers[ConsoleGuest.tx(0)].pollUsed().id()).isEqualTo(head);
            // The 8 delivered resizes are in guest RAM; the 2 pending ones follow from B, in order.
            List<ConsoleGuest.Msg> msgs = guest.control();
            msgs.addAll(guest.control());
            assertThat(sizes(msgs)).containsExactly(80, 81, 82, 83, 84, 85, 86, 87, 88, 89);
            // Port 1 is still open by the guest: the backend is told, and its input goes straight in.
            assertThat(portB.guestOpenEvents).containsExactly(true);
            assertThat(portB.handle.receive(b("xyz"), 0, 3)).isTrue();
            assertThat(new String(guest.readUsed(ConsoleGuest.rx(id)), StandardCharsets.UTF_8)).isEqualTo("xyz");
            guest.write(id, b("out"));
            assertThat(portB.text()).isEqualTo("out");
            assertThat(guest.irq.needsReset()).isEmpty();

            // Refusals: other ports, another name, other slot count, another version, a cut state.
            try (VirtioConsole onlyConsole = new VirtioConsole(4, new RecordingBackend(true))) {
                assertThatThrownBy(() -> onlyConsole.loadState(1, state)).isInstanceOf(IllegalArgumentException.class)
                        .hasMessage("virtio-console: the saved device has ports [0 (console), 1 'org.example.agent'], this one [0 (console)]"
                                + " (start the destination with the same ports, hot-added ones included)");
            }
            try (VirtioConsole otherName = new VirtioConsole(4, new RecordingBackend(true))) {
                otherName.addPort("org.example.other", new RecordingBackend(true));
                assertThatThrownBy(() -> otherName.loadState(1, state)).hasMessageContaining("this one [0 (console), 1 'org.example.other']");
            }
            try (VirtioConsole fewer = new VirtioConsole(2, new RecordingBackend(true))) {
                assertThatThrownBy(() -> fewer.loadState(1, state)).hasMessage(
                        "virtio-console: the saved device has 4 port slots, this one 2 (start the destination with the same console options)");
            }
            try (VirtioConsole same = new VirtioConsole(4, new RecordingBackend(true))) {
                same.addPort("org.example.agent", new RecordingBackend(true));
                assertThatThrownBy(() -> same.loadState(2, state)).hasMessage("virtio-console: saved state version 2, this vmm reads 1");
                assertThatThrownBy(() -> same.loadState(1, java.util.Arrays.copyOf(state, 12))).hasMessageContaining("malformed saved state");
                assertThatThrownBy(() -> same.loadState(1, java.util.Arrays.copyOf(state, state.length + 2))).hasMessageContaining("2 trailing bytes");
            }
        } finally {
            a.close();
            guest.close(); // closes b (the guest's device now)
        }
    }
}
