package dev.vmm.usb.xhci;

/**
 * One 16-byte Transfer Request Block (xHCI 1.2 §4.11, §6.4) as read from a ring: the 64-bit
 * parameter, the status dword and the control dword, plus the guest-physical address it was read
 * from (events point back at it).
 */
record Trb(long parameter, int status, int control, long address) {
    static final int SIZE = 16;

    // Control dword bits shared by several TRB types.
    static final int CYCLE = 1;
    static final int TOGGLE_CYCLE = 1 << 1;     // Link TRB
    static final int ENT = 1 << 1;              // Evaluate Next TRB (transfer TRBs)
    static final int ISP = 1 << 2;              // Interrupt on Short Packet
    static final int CHAIN = 1 << 4;
    static final int IOC = 1 << 5;
    static final int IDT = 1 << 6;              // Immediate Data
    static final int BEI = 1 << 9;              // Block Event Interrupt
    static final int BSR = 1 << 9;              // Address Device: Block Set Address Request
    static final int DECONFIGURE = 1 << 9;      // Configure Endpoint
    static final int DATA_IN = 1 << 16;         // Data/Status Stage direction

    // TRB types (table 6-91).
    static final int NORMAL = 1, SETUP = 2, DATA = 3, STATUS = 4, ISOCH = 5, LINK = 6, EVENT_DATA = 7, NOOP = 8;
    static final int ENABLE_SLOT = 9, DISABLE_SLOT = 10, ADDRESS_DEVICE = 11, CONFIGURE_ENDPOINT = 12,
            EVALUATE_CONTEXT = 13, RESET_ENDPOINT = 14, STOP_ENDPOINT = 15, SET_TR_DEQUEUE = 16,
            RESET_DEVICE = 17, NOOP_COMMAND = 23;
    static final int TRANSFER_EVENT = 32, COMMAND_COMPLETION_EVENT = 33, PORT_STATUS_CHANGE_EVENT = 34,
            HOST_CONTROLLER_EVENT = 37;

    int type() { return (control >>> 10) & 0x3f; }

    boolean cycle() { return (control & CYCLE) != 0; }

    boolean has(int bit) { return (control & bit) != 0; }

    /** Slot ID of a command TRB (bits 31:24 of the control dword). */
    int slotId() { return control >>> 24; }

    /** Endpoint ID (Device Context Index) of a command TRB (bits 20:16). */
    int endpointId() { return (control >>> 16) & 0x1f; }

    /** TRB Transfer Length of a transfer TRB (bits 16:0 of status). */
    int transferLength() { return status & 0x1_ffff; }

    /** Interrupter Target of a transfer TRB (bits 31:22 of status). */
    int interrupterTarget() { return status >>> 22; }

    /** An event TRB, cycle bit still clear (the event ring sets it). */
    static Trb event(int type, long parameter, int status, int control) {
        return new Trb(parameter, status, control | type << 10, 0);
    }
}
