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

    /**
     * A pointer's report descriptor (HID 1.11 §6.2.2): Generic Desktop / Mouse application, Pointer
     * physical collection, three buttons and five bits of padding (the first report byte), then
     * {@code axes} — the device's own items, with the Generic Desktop usage page already selected —
     * and both End Collections.
     */
    static byte[] reportDescriptor(int... axes) {
        // 05 01  Usage Page (Generic Desktop)     09 02  Usage (Mouse)
        // a1 01  Collection (Application)         09 01    Usage (Pointer)
        // a1 00    Collection (Physical)          05 09      Usage Page (Button)
        // 19 01      Usage Minimum (1)            29 03      Usage Maximum (3)
        // 15 00      Logical Minimum (0)          25 01      Logical Maximum (1)
        // 95 03      Report Count (3)             75 01      Report Size (1)
        // 81 02      Input (Data, Variable, Absolute): the buttons
        // 95 01      Report Count (1)             75 05      Report Size (5)
        // 81 01      Input (Constant): padding    05 01      Usage Page (Generic Desktop)
        byte[] head = java.util.HexFormat.of().parseHex("05010902a1010901a10005091901290315002501950375018102950175058101" + "0501");
        byte[] tail = UsbTablet.bytes(axes);
        byte[] d = java.util.Arrays.copyOf(head, head.length + tail.length + 2);
        System.arraycopy(tail, 0, d, head.length, tail.length);
        d[d.length - 2] = (byte) 0xc0;     //   End Collection
        d[d.length - 1] = (byte) 0xc0;     // End Collection
        return d;
    }

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

    /** What a pointer saves: its two axes (position, or motion not reported yet), then buttons and wheel. */
    void save(java.io.DataOutputStream out, long x, long y) throws java.io.IOException {
        out.writeLong(x);
        out.writeLong(y);
        out.writeByte(buttons);
        out.writeByte(wheel);
    }

    /** Where a loaded pointer state's axes go. */
    interface Axes {
        void set(long x, long y);
    }

    /** Reads and checks a saved pointer (axes within {@code min..max}); the action puts it in place. */
    Runnable load(java.io.DataInputStream in, String device, long min, long max, Axes axes) throws java.io.IOException {
        long nx = dev.vmm.usb.UsbStateException.check(device + ": x", in.readLong(), min, max);
        long ny = dev.vmm.usb.UsbStateException.check(device + ": y", in.readLong(), min, max);
        int nb = (int) dev.vmm.usb.UsbStateException.check(device + ": buttons", in.readUnsignedByte(), 0, 7);
        int nw = (int) dev.vmm.usb.UsbStateException.check(device + ": wheel", in.readByte(), -127, 127);
        return () -> {
            axes.set(nx, ny);
            buttons = nb;
            wheel = nw;
        };
    }
}
