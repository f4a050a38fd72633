package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;

/**
 * The buttons and wheel of a pointing device (usb-tablet, usb-mouse): button bits as the reports
 * carry them (bit 0 left, 1 right, 2 middle) and wheel steps (+1 per wheel-up press, −1 per
 * wheel-down, reported once). Not thread-safe: the device's lock guards it.
 */
final class PointerButtons {
    int buttons;
    int wheel;

    void event(InputEvent.Btn b) {
        int bit = switch (b.button()) {
            case LEFT -> 1;
            case RIGHT -> 2;
            case MIDDLE -> 4;
            default -> 0;
        };
        if (bit != 0) {
            buttons = b.down() ? buttons | bit : buttons & ~bit;
        } else if (b.down() && b.button() == InputEvent.Button.WHEEL_UP) {
            wheel = Math.min(127, wheel + 1);
        } else if (b.down() && b.button() == InputEvent.Button.WHEEL_DOWN) {
            wheel = Math.max(-127, wheel - 1);
        }
    }

    void save(java.io.DataOutputStream out) throws java.io.IOException {
        out.writeByte(buttons);
        out.writeByte(wheel);
    }

    /** Reads and checks saved buttons and wheel; the action puts them in place. */
    Runnable load(java.io.DataInputStream in, String device) throws java.io.IOException {
        int nb = (int) dev.vmm.usb.UsbStateException.check(device + ": buttons", in.readUnsignedByte(), 0, 7);
        int nw = (int) dev.vmm.usb.UsbStateException.check(device + ": wheel", in.readByte(), -127, 127);
        return () -> {
            buttons = nb;
            wheel = nw;
        };
    }
}
