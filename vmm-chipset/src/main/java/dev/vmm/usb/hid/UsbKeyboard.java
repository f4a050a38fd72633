package dev.vmm.usb.hid;

import dev.vmm.usb.UsbStateException;
import dev.vmm.input.InputEvent;
import dev.vmm.input.KeyCodes;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code usb-kbd}: a boot keyboard (HID 1.11 Appendix B.1 report layout, subclass 1 protocol 1), so
 * firmware can use it with the boot protocol. Input report (8 bytes): modifier bits (usages E0h-E7h),
 * a reserved byte, up to six pressed keys' usages; a seventh key makes all six ErrorRollOver (01h).
 * Output report (1 byte): the LEDs, set by the host with SET_REPORT.
 */
public final class UsbKeyboard extends HidDevice {
    private static final byte[] REPORT_DESCRIPTOR = UsbTablet.bytes(
            0x05, 0x01,  // Usage Page (Generic Desktop)
            0x09, 0x06,  // Usage (Keyboard)
            0xa1, 0x01,  // Collection (Application)
            0x05, 0x07,  //   Usage Page (Keyboard/Keypad)
            0x19, 0xe0,  //   Usage Minimum (Left Control)
            0x29, 0xe7,  //   Usage Maximum (Right GUI)
            0x15, 0x00,  //   Logical Minimum (0)
            0x25, 0x01,  //   Logical Maximum (1)
            0x75, 0x01,  //   Report Size (1)
            0x95, 0x08,  //   Report Count (8)
            0x81, 0x02,  //   Input (Data, Variable, Absolute): modifiers
            0x95, 0x01,  //   Report Count (1)
            0x75, 0x08,  //   Report Size (8)
            0x81, 0x01,  //   Input (Constant): reserved
            0x95, 0x05,  //   Report Count (5)
            0x75, 0x01,  //   Report Size (1)
            0x05, 0x08,  //   Usage Page (LEDs)
            0x19, 0x01,  //   Usage Minimum (Num Lock)
            0x29, 0x05,  //   Usage Maximum (Kana)
            0x91, 0x02,  //   Output (Data, Variable, Absolute): LEDs
            0x95, 0x01,  //   Report Count (1)
            0x75, 0x03,  //   Report Size (3)
            0x91, 0x01,  //   Output (Constant): padding
            0x95, 0x06,  //   Report Count (6)
            0x75, 0x08,  //   Report Size (8)
            0x15, 0x00,  //   Logical Minimum (0)
            0x25, 0xff,  //   Logical Maximum (255)
            0x05, 0x07,  //   Usage Page (Keyboard/Keypad)
            0x19, 0x00,  //   Usage Minimum (0)
            0x29, 0xff,  //   Usage Maximum (255)
            0x81, 0x00,  //   Input (Data, Array): keys
            0xc0);       // End Collection

    private static final int ERROR_ROLL_OVER = 0x01;

    /** Pressed non-modifier usages in press order. */
    private final List<Integer> pressed = new ArrayList<>();
    private int modifiers;
    private int leds;

    public UsbKeyboard() {
        super("usb-kbd", 1, 1, "VMM USB Keyboard", REPORT_DESCRIPTOR);
    }

    @Override
    protected synchronized byte[] currentReport(boolean bootProtocol) {
        byte[] r = new byte[8];
        r[0] = (byte) modifiers;
        if (pressed.size() > 6) {
            for (int i = 2; i < 8; i++) r[i] = ERROR_ROLL_OVER;
        } else {
            for (int i = 0; i < pressed.size(); i++) r[2 + i] = (byte) (int) pressed.get(i);
        }
        return r;
    }

    @Override
    protected synchronized boolean outputReport(byte[] data) {
        if (data.length < 1) return false;
        leds = data[0] & 0x1f;
        return true;
    }

    /** The LEDs the host last set (bit 0 Num Lock, 1 Caps Lock, 2 Scroll Lock, 3 Compose, 4 Kana). */
    public synchronized int leds() { return leds; }

    @Override
    protected synchronized void resetInput() {
        pressed.clear();
        modifiers = 0;
        leds = 0;
    }

    @Override
    protected void saveInput(java.io.DataOutputStream out) throws java.io.IOException {
        out.writeByte(modifiers);
        out.writeByte(leds);
        out.writeShort(pressed.size());
        for (int usage : pressed) out.writeByte(usage);
    }

    @Override
    protected Runnable loadInput(java.io.DataInputStream in) throws java.io.IOException {
        int mods = in.readUnsignedByte();
        int ledBits = (int) UsbStateException.check("usb-kbd: LEDs", in.readUnsignedByte(), 0, 0x1f);
        int n = (int) UsbStateException.check("usb-kbd: pressed keys", in.readUnsignedShort(), 0, 0xe0);
        List<Integer> keys = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            // A key usage of the Keyboard page that is not a modifier, each at most once (as event() keeps them).
            int usage = (int) UsbStateException.check("usb-kbd: key usage", in.readUnsignedByte(), 1, 0xdf);
            if (keys.contains(usage)) throw new UsbStateException("usb-kbd: key usage " + usage + " pressed twice");
            keys.add(usage);
        }
        return () -> {
            modifiers = mods;
            leds = ledBits;
            pressed.clear();
            pressed.addAll(keys);
        };
    }

    @Override
    public Set<InputEvent.Kind> kinds() {
        return Set.of(InputEvent.Kind.KEY);
    }

    @Override
    public synchronized void event(InputEvent e) {
        if (!(e instanceof InputEvent.Key k)) return;
        int usage = KeyCodes.hidUsage(k.qcode());
        if (usage == 0) return; // no usage on the keyboard page: nothing a boot keyboard can say
        if (usage >= 0xe0 && usage <= 0xe7) {
            int bit = 1 << (usage - 0xe0);
            modifiers = k.down() ? modifiers | bit : modifiers & ~bit;
        } else if (k.down()) {
            // Bounded: at most as many keys as the page has usages (a repeated press is not added twice).
            if (!pressed.contains(usage)) pressed.add(usage);
        } else {
            pressed.remove(Integer.valueOf(usage));
        }
    }

    @Override
    public void sync() {
        reportChanged();
    }
}
