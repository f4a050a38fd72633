package dev.vmm.usb;

/**
 * The 8-byte SETUP packet of a control transfer (USB 2.0 §9.3), decoded. Values are as the host
 * sent them: a device validates them like any guest-controlled input.
 */
public record UsbSetup(int requestType, int request, int value, int index, int length) {
    public static final int DIR_IN = 0x80;
    public static final int TYPE_MASK = 0x60, TYPE_STANDARD = 0x00, TYPE_CLASS = 0x20, TYPE_VENDOR = 0x40;
    public static final int RECIPIENT_MASK = 0x1f, RECIPIENT_DEVICE = 0, RECIPIENT_INTERFACE = 1, RECIPIENT_ENDPOINT = 2;

    /** Standard request codes (USB 2.0 table 9-4). */
    public static final int GET_STATUS = 0, CLEAR_FEATURE = 1, SET_FEATURE = 3, SET_ADDRESS = 5,
            GET_DESCRIPTOR = 6, SET_DESCRIPTOR = 7, GET_CONFIGURATION = 8, SET_CONFIGURATION = 9,
            GET_INTERFACE = 10, SET_INTERFACE = 11, SET_SEL = 48, SET_ISOCH_DELAY = 49;

    /** From the setup TRB's immediate data: the low 8 bytes in little-endian order. */
    public static UsbSetup decode(long le8) {
        return new UsbSetup((int) (le8 & 0xff), (int) ((le8 >>> 8) & 0xff), (int) ((le8 >>> 16) & 0xffff),
                (int) ((le8 >>> 32) & 0xffff), (int) ((le8 >>> 48) & 0xffff));
    }

    public boolean in() { return (requestType & DIR_IN) != 0; }
    public int type() { return requestType & TYPE_MASK; }
    public int recipient() { return requestType & RECIPIENT_MASK; }
}
