package dev.vmm.input;

/**
 * One input event as QMP {@code input-send-event} carries it (QEMU's InputEvent): a pointer move on
 * an axis (absolute 0..0x7fff, or relative), a button, or a key named by its QEMU qcode.
 */
public sealed interface InputEvent {
    /** The event kinds, named as QEMU's InputEventKind. */
    enum Kind { KEY, BTN, REL, ABS }

    Kind kind();

    enum Axis { X, Y }

    /** Absolute positions span 0..{@value #ABS_MAX} on each axis, whatever the screen. */
    int ABS_MAX = 0x7fff;

    record Move(boolean absolute, Axis axis, long value) implements InputEvent {
        public Kind kind() { return absolute ? Kind.ABS : Kind.REL; }
    }

    /** Buttons as QEMU's InputButton names them (left, middle, right, wheel-up, ...). */
    enum Button {
        LEFT("left"), MIDDLE("middle"), RIGHT("right"), WHEEL_UP("wheel-up"), WHEEL_DOWN("wheel-down"),
        SIDE("side"), EXTRA("extra"), WHEEL_LEFT("wheel-left"), WHEEL_RIGHT("wheel-right");

        public final String qapiName;

        Button(String qapiName) { this.qapiName = qapiName; }

        public static Button byName(String name) {
            for (Button b : values()) if (b.qapiName.equals(name)) return b;
            return null;
        }
    }

    record Btn(Button button, boolean down) implements InputEvent {
        public Kind kind() { return Kind.BTN; }
    }

    /** A key by qcode (QEMU's QKeyCode name, e.g. "a", "ctrl", "kp_enter"). */
    record Key(String qcode, boolean down) implements InputEvent {
        public Kind kind() { return Kind.KEY; }
    }
}
