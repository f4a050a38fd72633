package dev.vmm.input;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Input routing as QEMU's input-send-event does it: each event goes to the newest handler of its
 * kind, every handler that got events is synced once after the whole group, in the order it was
 * first reached; events no handler takes are dropped. And the event and key-name helpers.
 */
@Timeout(30)
class InputRouterTest {
    /** A handler that records what it receives into a shared log. */
    private record Recorder(String name, Set<InputEvent.Kind> kinds, List<String> log) implements InputHandler {
        public void event(InputEvent e) { log.add(name + " " + e.kind()); }
        public void sync() { log.add(name + " sync"); }
    }

    @Test
    void eventsGoToTheNewestHandlerOfTheirKindAndEachHandlerSyncsOnce() {
        List<String> log = new ArrayList<>();
        InputRouter r = new InputRouter();
        Recorder mouse = new Recorder("mouse", Set.of(InputEvent.Kind.REL, InputEvent.Kind.BTN), log);
        Recorder tablet = new Recorder("tablet", Set.of(InputEvent.Kind.ABS, InputEvent.Kind.BTN), log);
        Recorder kbd = new Recorder("kbd", Set.of(InputEvent.Kind.KEY), log);
        r.register(mouse);
        r.register(kbd);
        r.register(tablet);
        r.send(List.of(new InputEvent.Key("a", true), new InputEvent.Btn(InputEvent.Button.LEFT, true),
                new InputEvent.Move(false, InputEvent.Axis.X, 3), new InputEvent.Key("a", false),
                new InputEvent.Move(true, InputEvent.Axis.Y, 9)));
        assertThat(log).containsExactly("kbd KEY", "tablet BTN", "mouse REL", "kbd KEY", "tablet ABS",
                "kbd sync", "tablet sync", "mouse sync");
        // registering again makes a handler the newest; unregistering the newest falls back
        log.clear();
        r.register(mouse);
        r.register(mouse);
        assertThat(r.handlerFor(InputEvent.Kind.BTN)).isSameAs(mouse);
        r.unregister(mouse);
        assertThat(r.handlerFor(InputEvent.Kind.BTN)).isSameAs(tablet);
        assertThat(r.handlerFor(InputEvent.Kind.REL)).isNull();
        r.unregister(mouse); // not registered: nothing happens
        // an event nobody takes is dropped; a handler without events is not synced
        r.send(List.of(new InputEvent.Move(false, InputEvent.Axis.X, 1)));
        r.send(List.of());
        assertThat(log).isEmpty();
    }

    @Test
    void eventKindsAndButtonNames() {
        assertThat(new InputEvent.Move(true, InputEvent.Axis.X, 0).kind()).isEqualTo(InputEvent.Kind.ABS);
        assertThat(new InputEvent.Move(false, InputEvent.Axis.X, 0).kind()).isEqualTo(InputEvent.Kind.REL);
        assertThat(new InputEvent.Btn(InputEvent.Button.SIDE, true).kind()).isEqualTo(InputEvent.Kind.BTN);
        assertThat(new InputEvent.Key("a", true).kind()).isEqualTo(InputEvent.Kind.KEY);
        for (InputEvent.Button b : InputEvent.Button.values()) assertThat(InputEvent.Button.byName(b.qapiName)).isSameAs(b);
        assertThat(InputEvent.Button.byName("wheel-up")).isEqualTo(InputEvent.Button.WHEEL_UP);
        assertThat(InputEvent.Button.byName("Left")).isNull();
        assertThat(InputEvent.Button.byName("")).isNull();
    }

    @Test
    void keyNamesAndNumbersOutsideTheMaps() {
        assertThat(KeyCodes.isQcode("kp_enter")).isTrue();
        assertThat(KeyCodes.isQcode("enter")).isFalse();
        assertThat(KeyCodes.QCODES).hasSize(KeyCodes.QCODES.stream().distinct().toList().size());
        assertThat(KeyCodes.hidUsage("no-such-key")).isZero();
        assertThat(KeyCodes.hidUsage("unmapped")).isZero();
        for (long n : new long[] {-1, 0, 0x100, Long.MAX_VALUE, Long.MIN_VALUE, 0x80}) {
            assertThat(KeyCodes.fromNumber(n)).as("number %x", n).isEqualTo("unmapped");
        }
        assertThat(KeyCodes.fromNumber(0xff)).isEqualTo("unmapped");
        assertThat(KeyCodes.fromNumber(1)).isEqualTo("esc");
        assertThat(KeyCodes.fromNumber(0xdd)).isEqualTo("compose");
        // every number maps to a qcode QEMU knows
        for (int n = 0; n < 256; n++) assertThat(KeyCodes.isQcode(KeyCodes.fromNumber(n))).as("number %x", n).isTrue();
    }
}
