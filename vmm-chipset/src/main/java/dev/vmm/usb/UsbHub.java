package dev.vmm.usb;

import java.util.List;

/**
 * The root hub of a USB host controller as the machine and the QMP device commands see it: where
 * devices are plugged in and out, also while the guest runs (the guest's driver sees a connect
 * status change on the port and enumerates the device, or sees it gone).
 *
 * <p>Port choice: a {@link UsbSpeed#SUPER SuperSpeed} device goes to a USB 3 port, any other to a
 * USB 2 port. {@link #plug} with port 0 takes the lowest-numbered free port of the right kind; with
 * a port number it takes that port, which must be free and of the right kind. Errors are
 * {@link IllegalArgumentException}s (no such port, wrong kind, busy, already plugged) or an
 * {@link IllegalStateException} (no free port of that kind), with a message fit for a user.
 *
 * <p>Thread-safe: callable from any thread (the machine builder, the QMP thread).
 */
public interface UsbHub {
    /** One root hub port: its number (1-based, as the guest sees it), its kind and what is plugged in. */
    record Port(int number, boolean superSpeed, UsbDevice device) { }

    /** Plugs {@code device} into {@code portOrZero} (0: choose); returns the port number. */
    int plug(UsbDevice device, int portOrZero);

    /** Unplugs {@code device} (a no-op if it is not plugged here); its pending packets are cancelled. */
    void unplug(UsbDevice device);

    /** Every port, in port number order. */
    List<Port> ports();
}
