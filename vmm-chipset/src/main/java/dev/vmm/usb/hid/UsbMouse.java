package dev.vmm.usb.hid;

import dev.vmm.input.InputEvent;

import java.util.Set;

/**
 * {@code usb-mouse}: a relative pointer (boot interface subclass 1, protocol 2: mouse, so firmware
 * can use it). Report (4 bytes, the boot mouse layout of HID 1.11 Appendix B.2 with a wheel byte
 * after it): buttons (bit 0 left, 1 right, 2 middle), X and Y motion and the wheel as signed bytes.
 * Motion accumulates between input frames; a frame that moved more than a byte holds becomes
 * several reports (up to the queue's bound, the last one absorbing the rest), so nothing is lost
 * to clamping.
 */
public final class UsbMouse extends HidDevice {
    private static final byte[] REPORT_DESCRIPTOR = PointerButtons.reportDescriptor(
            0x09, 0x30,        //     Usage (X)
            0x09, 0x31,        //     Usage (Y)
            0x09, 0x38,        //     Usage (Wheel)
            0x15, 0x81,        //     Logical Minimum (-127)
            0x25, 0x7f,        //     Logical Maximum (127)
            0x75, 0x08,        //     Report Size (8)
            0x95, 0x03,        //     Report Count (3)
            0x81, 0x06);       //     Input (Data, Variable, Relative): X, Y, wheel

    /** Motion not reported yet (bounded: a frame's events add at most a few million). */
    private long dx, dy;
    private final PointerButtons buttons = new PointerButtons();

    public UsbMouse() {
        super("usb-mouse", 1, 2, "VMM USB Mouse", REPORT_DESCRIPTOR);
    }

    @Override
    protected synchronized byte[] currentReport(boolean bootProtocol) {
        // GET_REPORT and the first report of a frame: as much motion as a byte holds.
        return new byte[] {(byte) buttons.buttons, (byte) clamp(dx), (byte) clamp(dy), (byte) buttons.wheel};
    }

    private static int clamp(long v) {
        return (int) Math.max(-127, Math.min(127, v));
    }

    @Override
    protected boolean relative(byte[] report) { return true; }

    @Override
    protected int interruptMaxPacket() { return 4; }

    @Override
    protected synchronized void resetInput() {
        buttons.buttons = 0;
        buttons.wheel = 0;
        dx = 0;
        dy = 0;
    }

    /** Relative motion and buttons; absolute motion and keys belong to other devices. */
    @Override
    public synchronized void event(InputEvent e) {
        if (e instanceof InputEvent.Btn b) buttons.event(b);
        if (!(e instanceof InputEvent.Move m) || m.absolute()) return;
        // Saturating: a hostile client cannot overflow the accumulator.
        if (m.axis() == InputEvent.Axis.X) dx = saturate(dx + saturate(m.value()));
        else dy = saturate(dy + saturate(m.value()));
    }

    private static long saturate(long v) {
        return Math.max(-(1L << 40), Math.min(1L << 40, v));
    }

    @Override
    public Set<InputEvent.Kind> kinds() {
        return Set.of(InputEvent.Kind.REL, InputEvent.Kind.BTN);
    }

    @Override
    public void sync() {
        // One report per 127 counts of motion, at most a queue's worth; the last takes what is left.
        for (int i = 0; i < QUEUE_CAPACITY; i++) {
            reportChanged();
            synchronized (this) {
                dx -= clamp(dx);
                dy -= clamp(dy);
                buttons.wheel = 0;
                if (i == QUEUE_CAPACITY - 2) {
                    dx = clamp(dx);
                    dy = clamp(dy);
                }
                if (dx == 0 && dy == 0) return;
            }
        }
    }

    @Override
    protected void saveInput(java.io.DataOutputStream out) throws java.io.IOException {
        buttons.save(out, dx, dy);
    }

    @Override
    protected Runnable loadInput(java.io.DataInputStream in) throws java.io.IOException {
        return buttons.load(in, "usb-mouse", -(1L << 40), 1L << 40, (nx, ny) -> {
            dx = nx;
            dy = ny;
        });
    }
}
