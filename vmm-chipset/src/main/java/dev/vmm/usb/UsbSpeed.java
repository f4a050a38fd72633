package dev.vmm.usb;

/**
 * A USB device's bus speed, with the xHCI Protocol Speed ID the default PSI table gives it
 * (xHCI 1.2 §7.2.2.1.1: 1 full, 2 low, 3 high, 4 SuperSpeed Gen1).
 */
public enum UsbSpeed {
    LOW(2, 8), FULL(1, 64), HIGH(3, 64), SUPER(4, 512);

    /** The Port Speed value a root hub port reports in PORTSC and a Slot Context carries. */
    public final int xhciSpeedId;
    /** Endpoint 0's maximum packet size at this speed (bMaxPacketSize0; SuperSpeed: 2^9). */
    public final int controlMaxPacket;

    UsbSpeed(int xhciSpeedId, int controlMaxPacket) {
        this.xhciSpeedId = xhciSpeedId;
        this.controlMaxPacket = controlMaxPacket;
    }

    /** Whether the device belongs on a USB 3 (SuperSpeed) root hub port rather than a USB 2 one. */
    public boolean superSpeed() { return this == SUPER; }
}
