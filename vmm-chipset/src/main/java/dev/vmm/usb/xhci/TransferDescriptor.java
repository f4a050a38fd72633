package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbSetup;

import java.util.ArrayList;
import java.util.List;

/**
 * One Transfer Descriptor read off a transfer ring (xHCI 1.2 §4.11.2, §4.11.2.2): the TRBs of a
 * bulk/interrupt TD (Normal, Event Data, No-op, chained), or of a control transfer (Setup, optional
 * Data stage with its chained TRBs, Status). Link TRBs are not in it. It is read in full before
 * anything is executed, so a half-written TD simply waits for the next doorbell.
 */
final class TransferDescriptor {
    /** A TRB the controller refuses (wrong type or place, bad length, buffer outside RAM). */
    static final class Invalid extends RuntimeException {
        final Trb trb;

        Invalid(Trb trb, String why) {
            super(why, null, false, false);
            this.trb = trb;
        }
    }

    /** The most TRBs one TD may have, and the most bytes it may move. */
    static final int MAX_TRBS = 1024;
    static final int MAX_BYTES = 16 << 20;

    final List<Trb> trbs = new ArrayList<>();
    UsbSetup setup;
    /** Direction of the data: the endpoint's, or the Setup request's for a control transfer. */
    boolean in;
    int dataLength;
    long nextDequeue;
    boolean nextCycle;

    /**
     * Reads the next TD of {@code ep} without moving its dequeue pointer. Returns null if the TD is
     * not complete on the ring yet; throws {@link Invalid} or {@link Dma.Fault} for a bad one.
     */
    static TransferDescriptor read(Dma dma, Endpoint ep) {
        RingCursor c = new RingCursor(ep.ring.dequeue(), ep.ring.cycle());
        TransferDescriptor td = new TransferDescriptor();
        td.in = ep.in();
        boolean statusSeen = false;
        while (true) {
            Trb t;
            try {
                t = c.peek(dma);
            } catch (RingCursor.LinkLoop loop) {
                throw new Invalid(new Trb(0, 0, 0, c.dequeue()), loop.getMessage());
            }
            if (t == null) return null;
            c.advance();
            if (td.trbs.size() == MAX_TRBS) throw new Invalid(t, "TD longer than " + MAX_TRBS + " TRBs");
            td.accept(dma, ep, t, statusSeen);
            if (t.type() == Trb.STATUS) statusSeen = true;
            td.trbs.add(t);
            boolean last = !t.has(Trb.CHAIN);
            if (last && (!ep.control() || statusSeen || t.type() == Trb.NOOP && td.trbs.size() == 1)) break;
        }
        td.nextDequeue = c.dequeue();
        td.nextCycle = c.cycle();
        return td;
    }

    private void accept(Dma dma, Endpoint ep, Trb t, boolean statusSeen) {
        int type = t.type();
        boolean first = trbs.isEmpty();
        switch (type) {
            case Trb.SETUP -> {
                if (!ep.control() || !first) throw new Invalid(t, "Setup Stage TRB out of place");
                if (!t.has(Trb.IDT) || t.transferLength() != 8) throw new Invalid(t, "Setup Stage TRB without its 8 immediate bytes");
                setup = UsbSetup.decode(t.parameter());
                in = setup.in();
            }
            case Trb.DATA -> {
                if (!ep.control() || setup == null || dataLength != 0 || statusSeen || trbs.size() != 1) {
                    throw new Invalid(t, "Data Stage TRB out of place");
                }
                if (t.has(Trb.DATA_IN) != setup.in()) throw new Invalid(t, "Data Stage direction differs from the Setup request");
                addData(dma, t);
            }
            case Trb.NORMAL -> {
                if (ep.control() && (setup == null || statusSeen || trbs.size() < 2 || trbs.get(1).type() != Trb.DATA)) {
                    throw new Invalid(t, "Normal TRB outside a control transfer's Data Stage");
                }
                addData(dma, t);
            }
            case Trb.STATUS -> {
                if (!ep.control() || setup == null || statusSeen) throw new Invalid(t, "Status Stage TRB out of place");
            }
            case Trb.EVENT_DATA -> {
                if (first) throw new Invalid(t, "Event Data TRB at the start of a TD");
            }
            case Trb.NOOP -> {
                if (ep.control() && !first) throw new Invalid(t, "No Op TRB inside a control transfer");
            }
            default -> throw new Invalid(t, "TRB type " + type + " on a transfer ring");
        }
        if (ep.control() && first && type != Trb.SETUP && type != Trb.NOOP) throw new Invalid(t, "control transfer not starting with a Setup Stage TRB");
    }

    private void addData(Dma dma, Trb t) {
        int len = t.transferLength();
        if (t.has(Trb.IDT)) {
            if (in || len > 8) throw new Invalid(t, "immediate data on an IN transfer or longer than 8 bytes");
        } else if (len > 0 && !dma.valid(t.parameter(), len)) {
            throw new Invalid(t, "data buffer 0x" + Long.toHexString(t.parameter()) + "+" + len + " outside RAM");
        }
        if ((long) dataLength + len > MAX_BYTES) throw new Invalid(t, "TD larger than " + MAX_BYTES + " bytes");
        dataLength += len;
    }

    /** Whether the TD has a Normal or Data Stage TRB (even of length 0: a zero-length packet). */
    boolean movesData() {
        for (Trb t : trbs) if (carriesData(t)) return true;
        return false;
    }

    static boolean carriesData(Trb t) {
        return t.type() == Trb.NORMAL || t.type() == Trb.DATA;
    }

    /** The OUT bytes gathered from the data TRBs (immediate data or guest buffers). */
    byte[] gather(Dma dma) {
        byte[] data = new byte[dataLength];
        if (in) return data;
        int at = 0;
        for (Trb t : trbs) {
            if (!carriesData(t)) continue;
            int len = t.transferLength();
            if (t.has(Trb.IDT)) {
                for (int i = 0; i < len; i++) data[at + i] = (byte) (t.parameter() >>> (8 * i));
            } else {
                dma.read(t.parameter(), data, at, len);
            }
            at += len;
        }
        return data;
    }

    /** Writes the first {@code length} IN bytes back over the data TRBs' buffers. */
    void scatter(Dma dma, byte[] data, int length) {
        int at = 0;
        for (Trb t : trbs) {
            if (at >= length) return;
            if (!carriesData(t)) continue;
            int n = Math.min(t.transferLength(), length - at);
            dma.write(t.parameter(), data, at, n);
            at += n;
        }
    }

    /** The first TRB of the TD: what a Stopped event points at. */
    Trb first() { return trbs.get(0); }
}
