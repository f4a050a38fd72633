package dev.vmm.usb.xhci;

import dev.vmm.usb.UsbStateException;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * One interrupter (xHCI 1.2 §4.17, §5.5.2): its registers (IMAN, IMOD, ERSTSZ, ERSTBA, ERDP) and
 * its event ring. Events are written at the enqueue pointer with the producer cycle state; the
 * interrupt follows when the Event Handler Busy flag is clear and the moderation interval (IMODI,
 * in 250 ns units) since the last one has passed; a held-back interrupt is fired by the clock.
 *
 * <p>Not thread-safe: called with the controller's lock held.
 */
final class Interrupter {
    static final int IMAN_IP = 1, IMAN_IE = 2;
    static final long ERDP_EHB = 1 << 3;
    static final int MIN_SEGMENT_TRBS = 16, MAX_SEGMENT_TRBS = 4096;

    /** What the interrupter needs from the controller. */
    interface Host {
        /** Interrupter {@code index} asserts its interrupt (MSI-X vector or INTx, as enabled). */
        void assertInterrupt(int index);

        /** The event ring cannot be used (invalid segment table): Host Controller Error. */
        void hostControllerError(String why);

        XhciClock clock();

        Object lock();
    }

    private final int index;
    private final Dma dma;
    private final Host host;

    private int iman;
    private int imod;
    private int erstsz;
    private long erstba;
    private long erdp;

    // The event ring as read from the segment table when ERSTBA was written.
    private long[] segmentBase = new long[0];
    private int[] segmentTrbs = new int[0];
    private String ringProblem = "ERSTBA not written";
    private int segment;
    private int slot;
    private boolean cycle;
    private long dropped;

    private boolean pending;
    private long nextAllowedNanos;
    private boolean timerArmed;

    Interrupter(int index, Dma dma, Host host) {
        this.index = index;
        this.dma = dma;
        this.host = host;
    }

    void reset() {
        iman = 0;
        imod = 0;
        erstsz = 0;
        erstba = 0;
        erdp = 0;
        segmentBase = new long[0];
        segmentTrbs = new int[0];
        ringProblem = "ERSTBA not written";
        pending = false;
        nextAllowedNanos = 0;
    }

    /** The interrupt pending flag (IMAN.IP) and enable (IMAN.IE): what drives INTx for interrupter 0. */
    boolean interruptAsserted() {
        return (iman & (IMAN_IP | IMAN_IE)) == (IMAN_IP | IMAN_IE);
    }

    long dropped() { return dropped; }

    // ---------------------------------------------------------------- registers (offset in the 32-byte set)

    int read(int offset) {
        return switch (offset) {
            case 0x00 -> iman;
            case 0x04 -> imod;
            case 0x08 -> erstsz;
            case 0x10 -> (int) erstba;
            case 0x14 -> (int) (erstba >>> 32);
            case 0x18 -> (int) erdp;
            case 0x1C -> (int) (erdp >>> 32);
            default -> 0;
        };
    }

    /** Returns true when the INTx level may have changed. */
    boolean write(int offset, int value) {
        switch (offset) {
            case 0x00 -> {
                int ip = (iman & IMAN_IP) & ~(value & IMAN_IP);   // IP is write-1-to-clear
                iman = ip | (value & IMAN_IE);
                tryFire();
                return true;
            }
            case 0x04 -> {
                // Writing IMODC loads the down-counter: 0 lets a held-back interrupt go now.
                imod = value;
                nextAllowedNanos = host.clock().nanoTime() + (value >>> 16) * 250L;
                tryFire();
            }
            case 0x08 -> erstsz = value & 0xFFFF;
            case 0x10 -> { erstba = (erstba & ~0xFFFF_FFFFL) | (value & 0xFFFF_FFC0L); loadSegmentTable(); }
            case 0x14 -> { erstba = (erstba & 0xFFFF_FFFFL) | (long) value << 32; loadSegmentTable(); }
            case 0x18 -> {
                long ehb = (erdp & ERDP_EHB) & ~(value & ERDP_EHB);            // EHB is write-1-to-clear
                long low = (value & 0xFFFF_FFF7L) & ~ERDP_EHB;
                erdp = (erdp & ~0xFFFF_FFFFL) | low | ehb;
                dequeueMoved();
            }
            case 0x1C -> { erdp = (erdp & 0xFFFF_FFFFL) | (long) value << 32; dequeueMoved(); }
            default -> { }
        }
        return false;
    }

    private long dequeuePointer() { return erdp & ~0xFL; }

    /** ERDP written: a held interrupt may go now (EHB cleared), a full ring takes events again (see {@link #post}). */
    private void dequeueMoved() {
        tryFire();
    }

    /** Writing ERSTBA (either half) (re)starts the event ring at the first segment (§4.9.4). */
    private void loadSegmentTable() {
        int n = erstsz;
        segment = 0;
        slot = 0;
        cycle = true;
        if (n == 0) {
            ringProblem = "ERSTSZ is 0";
            return;
        }
        long[] bases = new long[n];
        int[] sizes = new int[n];
        try {
            for (int i = 0; i < n; i++) {
                long entry = erstba + 16L * i;
                bases[i] = dma.readU64(entry) & ~0x3FL;
                sizes[i] = dma.readU32(entry + 8) & 0xFFFF;
                if (sizes[i] < MIN_SEGMENT_TRBS || sizes[i] > MAX_SEGMENT_TRBS) {
                    ringProblem = "event ring segment " + i + " has " + sizes[i] + " TRBs (16..4096)";
                    return;
                }
                if (!dma.valid(bases[i], (long) sizes[i] * Trb.SIZE)) {
                    ringProblem = "event ring segment " + i + " at 0x" + Long.toHexString(bases[i]) + " is outside RAM";
                    return;
                }
            }
        } catch (Dma.Fault f) {
            ringProblem = "event ring segment table at 0x" + Long.toHexString(erstba) + " is outside RAM";
            return;
        }
        segmentBase = bases;
        segmentTrbs = sizes;
        ringProblem = null;
    }

    // ---------------------------------------------------------------- state (snapshots, migration)

    /**
     * Registers, the segment table as read at the last ERSTBA write (the guest may have changed
     * the table in RAM since), the producer position and cycle, the interrupt moderation state
     * (the time left until the next interrupt may fire).
     */
    void save(DataOutputStream out) throws IOException {
        out.writeInt(iman);
        out.writeInt(imod);
        out.writeInt(erstsz);
        out.writeLong(erstba);
        out.writeLong(erdp);
        out.writeBoolean(ringProblem == null);
        if (ringProblem != null) out.writeUTF(ringProblem);
        out.writeInt(segmentBase.length);
        for (int i = 0; i < segmentBase.length; i++) {
            out.writeLong(segmentBase[i]);
            out.writeShort(segmentTrbs[i]);
        }
        out.writeInt(segment);
        out.writeInt(slot);
        out.writeBoolean(cycle);
        out.writeLong(-1);      // was the dequeue pointer a full ring waited for; fullness now follows from the pointers
        out.writeLong(dropped);
        out.writeBoolean(pending);
        out.writeLong(Math.max(0, nextAllowedNanos - host.clock().nanoTime()));
    }

    /** Reads and checks a saved interrupter; the returned action puts it in place. */
    Runnable load(DataInputStream in) throws IOException {
        String what = "interrupter " + index + ": ";
        int newIman = (int) UsbStateException.check(what + "IMAN", in.readInt(), 0, IMAN_IP | IMAN_IE);
        int newImod = in.readInt();
        int newErstsz = (int) UsbStateException.check(what + "ERSTSZ", in.readInt(), 0, 0xFFFF);
        long newErstba = in.readLong();
        long newErdp = in.readLong();
        if ((newErstba & 0x3F) != 0) throw new UsbStateException(what + "ERSTBA 0x" + Long.toHexString(newErstba) + " is not 64-byte aligned");
        String problem = in.readBoolean() ? null : in.readUTF();
        int n = (int) UsbStateException.check(what + "event ring segments", in.readInt(), 0, 0xFFFF);
        if ((problem == null) != (n > 0)) throw new UsbStateException(what + "event ring usable with " + n + " segments");
        long[] bases = new long[n];
        int[] sizes = new int[n];
        for (int i = 0; i < n; i++) {
            bases[i] = in.readLong();
            sizes[i] = (int) UsbStateException.check(what + "segment " + i + " TRBs", in.readUnsignedShort(), MIN_SEGMENT_TRBS, MAX_SEGMENT_TRBS);
            if ((bases[i] & 0x3F) != 0 || !dma.valid(bases[i], (long) sizes[i] * Trb.SIZE)) {
                throw new UsbStateException(what + "event ring segment " + i + " at 0x" + Long.toHexString(bases[i]) + " is not in guest RAM");
            }
        }
        int seg = in.readInt();
        int at = in.readInt();
        if (n > 0) {
            UsbStateException.check(what + "event ring segment index", seg, 0, n - 1);
            UsbStateException.check(what + "event ring enqueue index", at, 0, sizes[seg] - 1);
        } else if (seg != 0 || at != 0) {
            throw new UsbStateException(what + "enqueue position without an event ring");
        }
        boolean newCycle = in.readBoolean();
        in.readLong();          // the former full-ring dequeue pointer (see save): nothing to restore
        long newDropped = UsbStateException.check(what + "dropped events", in.readLong(), 0, Long.MAX_VALUE);
        boolean newPending = in.readBoolean();
        long delay = UsbStateException.check(what + "moderation delay", in.readLong(), 0, 0xFFFFL * 250);
        return () -> {
            iman = newIman;
            imod = newImod;
            erstsz = newErstsz;
            erstba = newErstba;
            erdp = newErdp;
            ringProblem = problem;
            segmentBase = bases;
            segmentTrbs = sizes;
            segment = seg;
            slot = at;
            cycle = newCycle;
            dropped = newDropped;
            pending = newPending;
            nextAllowedNanos = host.clock().nanoTime() + delay;
        };
    }

    // ---------------------------------------------------------------- events

    /**
     * Writes {@code event} (cycle bit is set here) and asks for an interrupt unless
     * {@code blockInterrupt}. Returns false when the ring cannot take events (Host Controller Error
     * is raised) or is full (the event is dropped).
     *
     * <p>Fullness follows from the pointers alone, re-evaluated at every event (§4.9.4): the entry
     * before the dequeue pointer is never written, so a full ring never looks empty; the entry
     * before that one takes the Event Ring Full Error instead of the event; while the enqueue
     * pointer sits right behind the dequeue pointer, events are dropped. Once the driver moves ERDP
     * the ring takes events again, even after a whole lap. (Until session 11 the ring filled every
     * entry and remembered the dequeue pointer it was full at, so a driver that caught up a whole
     * lap wrote that same ERDP back and never got another event.)
     */
    boolean post(Trb event, boolean blockInterrupt) {
        if (ringProblem != null) {
            host.hostControllerError("interrupter " + index + ": " + ringProblem);
            return false;
        }
        long dequeue = dequeuePointer();
        long next = address(segment, slot, 1);
        if (next == dequeue) {
            dropped++;
            return false;
        }
        boolean lastFree = address(segment, slot, 2) == dequeue;
        if (lastFree) {
            event = Trb.event(Trb.HOST_CONTROLLER_EVENT, 0, CompletionCode.EVENT_RING_FULL << 24, 0);
            dropped++;
        }
        long at = segmentBase[segment] + (long) slot * Trb.SIZE;
        dma.writeTrb(at, new Trb(event.parameter(), event.status(), (event.control() & ~Trb.CYCLE) | (cycle ? Trb.CYCLE : 0), at));
        if (++slot == segmentTrbs[segment]) {
            slot = 0;
            if (++segment == segmentBase.length) {
                segment = 0;
                cycle = !cycle;
            }
        }
        if (!blockInterrupt || lastFree) pending = true;
        tryFire();
        return !lastFree;
    }

    /** The address {@code ahead} entries after entry {@code at} of segment {@code s}, across segments. */
    private long address(int s, int at, int ahead) {
        at += ahead;
        while (at >= segmentTrbs[s]) {
            at -= segmentTrbs[s];
            s = (s + 1) % segmentBase.length;
        }
        return segmentBase[s] + (long) at * Trb.SIZE;
    }

    /** Delivers a pending interrupt unless the handler is busy or moderation holds it back. */
    void tryFire() {
        if (!pending || (erdp & ERDP_EHB) != 0) return;
        long now = host.clock().nanoTime();
        if (now - nextAllowedNanos < 0) {
            if (!timerArmed) {
                timerArmed = true;
                host.clock().schedule(nextAllowedNanos - now, () -> {
                    synchronized (host.lock()) {
                        timerArmed = false;
                        tryFire();
                    }
                });
            }
            return;
        }
        pending = false;
        iman |= IMAN_IP;
        erdp |= ERDP_EHB;
        int interval = imod & 0xFFFF;
        nextAllowedNanos = now + interval * 250L;
        host.assertInterrupt(index);
    }

    /** MSI-X delivered the message: IP clears by itself (§4.17.5). */
    void messageSent() {
        iman &= ~IMAN_IP;
    }
}
