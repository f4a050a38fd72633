package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;

import java.util.Set;

/**
 * {@code usb-tablet}: an absolute pointer, the kind a guest follows without acceleration (a VNC or
 * QMP client's position is the guest's). Report (6 bytes): buttons (bit 0 left, 1 right, 2 middle),
 * X and Y as little-endian 16-bit absolute values 0..0x7fff, wheel as a signed byte (+1 per
 * wheel-up press).
 */
public final class UsbTablet extends HidDevice {
    /** The report descriptor: Generic Desktop / Pointer in an Application collection. */
    private static final byte[] REPORT_DESCRIPTOR = PointerButtons.reportDescriptor(
            0x09, 0x30,        //     Usage (X)
            0x09, 0x31,        //     Usage (Y)
            0x15, 0x00,        //     Logical Minimum (0)
            0x26, 0xff, 0x7f,  //     Logical Maximum (32767)
            0x35, 0x00,        //     Physical Minimum (0)
            0x46, 0xff, 0x7f,  //     Physical Maximum (32767)
            0x75, 0x10,        //     Report Size (16)
            0x95, 0x02,        //     Report Count (2)
            0x81, 0x02,        //     Input (Data, Variable, Absolute)
            0x09, 0x38,        //     Usage (Wheel)
            0x15, 0x81,        //     Logical Minimum (-127)
            0x25, 0x7f,        //     Logical Maximum (127)
            0x35, 0x00,        //     Physical Minimum (0)
            0x45, 0x00,        //     Physical Maximum (0): none
            0x75, 0x08,        //     Report Size (8)
            0x95, 0x01,        //     Report Count (1)
            0x81, 0x06);       //     Input (Data, Variable, Relative)

    private int x, y;
    private final PointerButtons buttons = new PointerButtons();

    public UsbTablet() {
        super("usb-tablet", 0, 0, "VMM USB Tablet", REPORT_DESCRIPTOR);
    }

    static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) b[i] = (byte) v[i];
        return b;
    }

    @Override
    protected synchronized byte[] currentReport(boolean bootProtocol) {
        byte[] r = {(byte) buttons.buttons, (byte) x, (byte) (x >>> 8), (byte) y, (byte) (y >>> 8), (byte) buttons.wheel};
        return r;
    }

    /** 1 ms at high speed, as QEMU's tablet (an absolute pointer the guest should follow closely). */
    @Override
    protected int highSpeedInterval() { return 4; }

    /** A wheel step is relative: two frames with one step each are two steps (HidQueueAndIdleTest). */
    @Override
    protected boolean relative(byte[] report) { return report[5] != 0; }

    @Override
    protected boolean coalescable(byte[] previous, byte[] next) {
        // Only the position changed and no wheel step is pending in either: the newer position wins.
        return previous[0] == next[0] && previous[5] == 0 && next[5] == 0;
    }

    @Override
    protected synchronized void resetInput() {
        buttons.buttons = 0;
        buttons.wheel = 0;
    }

    @Override
    protected void saveInput(java.io.DataOutputStream out) throws java.io.IOException {
        buttons.save(out, x, y);
    }

    @Override
    protected Runnable loadInput(java.io.DataInputStream in) throws java.io.IOException {
        return buttons.load(in, "usb-tablet", 0, InputEvent.ABS_MAX, (nx, ny) -> {
            x = (int) nx;
            y = (int) ny;
        });
    }

    @Override
    public Set<InputEvent.Kind> kinds() {
        return Set.of(InputEvent.Kind.ABS, InputEvent.Kind.BTN);
    }

    @Override
    public synchronized void event(InputEvent e) {
        switch (e) {
            case InputEvent.Move m when m.absolute() -> {
                int v = (int) Math.max(0, Math.min(InputEvent.ABS_MAX, m.value()));
                if (m.axis() == InputEvent.Axis.X) x = v;
                else y = v;
            }
            case InputEvent.Btn b -> buttons.event(b);
            default -> { } // relative motion and keys belong to other devices
        }
    }

    @Override
    public void sync() {
        reportChanged();
        synchronized (this) {
            buttons.wheel = 0; // a wheel step is reported once
        }
    }
}
