package dev.vmm.usb.xhci;

/**
 * Where the fields of Slot and Endpoint Contexts are (xHCI 1.2 §6.2), for 32- or 64-byte contexts
 * (HCCPARAMS1.CSZ). A Device Context is the Slot Context followed by 31 Endpoint Contexts (by
 * Device Context Index); an Input Context has the Input Control Context first, so everything
 * there is one context further.
 */
final class Contexts {
    // Slot Context dwords.
    static final int SLOT_DW0 = 0, SLOT_DW1 = 4, SLOT_DW2 = 8, SLOT_DW3 = 12;
    // Endpoint Context dwords.
    static final int EP_DW0 = 0, EP_DW1 = 4, EP_DEQUEUE = 8, EP_DW4 = 16;

    static final int SLOT_STATE_DISABLED = 0, SLOT_STATE_DEFAULT = 1, SLOT_STATE_ADDRESSED = 2, SLOT_STATE_CONFIGURED = 3;

    // Endpoint types (EP DW1 bits 5:3).
    static final int EP_TYPE_ISOCH_OUT = 1, EP_TYPE_CONTROL = 4, EP_TYPE_ISOCH_IN = 5;

    private final int size;

    Contexts(int size) {
        this.size = size;
    }

    int size() { return size; }

    /** Bytes of a Device Context (slot + 31 endpoints). */
    long deviceContextBytes() { return 32L * size; }

    /** Bytes of an Input Context (control + slot + 31 endpoints). */
    long inputContextBytes() { return 33L * size; }

    long deviceSlot(long deviceContext) { return deviceContext; }

    long deviceEndpoint(long deviceContext, int dci) { return deviceContext + (long) dci * size; }

    long inputSlot(long inputContext) { return inputContext + size; }

    long inputEndpoint(long inputContext, int dci) { return inputContext + (long) (dci + 1) * size; }

    /** Copies one context (its first 32 bytes; the rest of a 64-byte context is reserved). */
    void copy(Dma dma, long from, long to) {
        byte[] b = new byte[32];
        dma.read(from, b, 0, b.length);
        dma.write(to, b, 0, b.length);
    }
}
