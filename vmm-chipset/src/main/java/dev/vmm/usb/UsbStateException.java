package dev.vmm.usb;

import java.io.IOException;

/** A saved USB controller or device state that cannot be loaded (corrupt, hostile or from another setup). */
public final class UsbStateException extends IOException {
    public UsbStateException(String message) {
        super(message);
    }

    /** Refuses {@code value} unless it lies in {@code min..max}. */
    public static long check(String what, long value, long min, long max) throws UsbStateException {
        if (value < min || value > max) throw new UsbStateException(what + " " + value + " is outside " + min + ".." + max);
        return value;
    }
}
