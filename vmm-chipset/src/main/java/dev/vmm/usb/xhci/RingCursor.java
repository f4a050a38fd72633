package dev.vmm.usb.xhci;

/**
 * The consumer side of a command or transfer ring (xHCI 1.2 §4.9.2): the dequeue pointer and the
 * consumer cycle state. Link TRBs are followed here (toggling the cycle state when their Toggle
 * Cycle flag is set), so callers only ever see the other TRB types.
 *
 * <p>The guest owns the ring's contents: a ring may point outside RAM ({@link Dma.Fault}) or be
 * made of Link TRBs only; the latter is reported as {@link LinkLoop} after a bounded number of
 * links instead of spinning.
 */
final class RingCursor {
    /** A ring made of Link TRBs only, or one whose Link TRB points at itself. */
    static final class LinkLoop extends RuntimeException {
        LinkLoop(long at) {
            super("xHCI ring of Link TRBs at 0x" + Long.toHexString(at), null, false, false);
        }
    }

    /** Links followed in a row before a ring counts as a loop. */
    static final int MAX_LINKS = 64;

    private long dequeue;
    private boolean cycle;

    RingCursor(long dequeue, boolean cycle) {
        set(dequeue, cycle);
    }

    void set(long dequeue, boolean cycle) {
        this.dequeue = dequeue & ~0xFL;
        this.cycle = cycle;
    }

    long dequeue() { return dequeue; }

    boolean cycle() { return cycle; }

    /**
     * The TRB at the dequeue pointer, following Link TRBs, without consuming it; null when the
     * software has not produced it yet (its cycle bit differs from the consumer cycle state).
     */
    Trb peek(Dma dma) {
        for (int links = 0; ; links++) {
            Trb trb = dma.readTrb(dequeue);
            if (trb.cycle() != cycle) return null;
            if (trb.type() != Trb.LINK) return trb;
            if (links >= MAX_LINKS) throw new LinkLoop(dequeue);
            if (trb.has(Trb.TOGGLE_CYCLE)) cycle = !cycle;
            dequeue = trb.parameter() & ~0xFL;
        }
    }

    /** Moves past the TRB last returned by {@link #peek}. */
    void advance() {
        dequeue += Trb.SIZE;
    }
}
