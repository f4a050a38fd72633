package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbPacket;

/**
 * The controller's side of one enabled endpoint of a device slot: its state (the Endpoint Context
 * EP State values), type, transfer ring position, and the one transfer descriptor being executed.
 * Transfers on an endpoint run one TD at a time, in ring order.
 */
final class Endpoint {
    static final int DISABLED = 0, RUNNING = 1, HALTED = 2, STOPPED = 3, ERROR = 4;

    final int dci;
    final int type;
    /** Max Packet Size (Evaluate Context may change endpoint 0's). */
    int maxPacket;
    final RingCursor ring;
    int state = RUNNING;

    /** The TD handed to the device, or null. */
    TransferDescriptor td;
    /** Its packet, while the device holds it. */
    UsbPacket packet;
    /** Set while the ring is being walked (a completion from inside {@code handle} must not recurse). */
    boolean walking;

    Endpoint(int dci, int type, int maxPacket, long dequeue, boolean cycle) {
        this.dci = dci;
        this.type = type;
        this.maxPacket = maxPacket;
        this.ring = new RingCursor(dequeue, cycle);
    }

    /** USB endpoint number (DCI 1 is the control endpoint 0; then OUT even, IN odd). */
    int number() { return dci / 2; }

    boolean in() { return dci == 1 || (dci & 1) == 1; }

    boolean control() { return dci == 1; }
}
