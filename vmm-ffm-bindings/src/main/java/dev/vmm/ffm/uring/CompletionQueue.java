package dev.vmm.ffm.uring;

import java.lang.foreign.MemorySegment;

import static dev.vmm.ffm.uring.IoUringConstants.IORING_CQ_EVENTFD_DISABLED;
import static dev.vmm.ffm.uring.IoUringLayouts.CQE_FLAGS;
import static dev.vmm.ffm.uring.IoUringLayouts.CQE_RES;
import static dev.vmm.ffm.uring.IoUringLayouts.CQE_USER_DATA;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The completion side of an {@link IoUring}.
 *
 * <p>Ownership: the kernel writes CQEs and then the {@code tail} (release); we load the tail with
 * acquire before reading the CQEs it covers, and store the {@code head} with release after we have
 * read them, so the kernel never overwrites a CQE we are still reading. We are the only writer of
 * the head, so we keep it in a field and never load it back.
 *
 * <p>Three ways to consume: {@link #drain(CompletionHandler)} (all ready CQEs, one head store),
 * {@link #poll()} (one at a time), or {@link #peek()} + {@link #advance(int)}. None allocates.
 *
 * <p>Not thread-safe: one ring belongs to one (I/O) thread.
 */
public final class CompletionQueue {
    private final MappedRing ring;
    /** The ring memory (the CQEs are read from it). */
    private final MemorySegment mem;
    private final long overflowOff;
    private final long cqesOff;
    private final long cqeSize;
    private final int mask;
    private final int entries;
    private final Cqe cqe = new Cqe();
    private int head;

    /** {@code overflowOff}, {@code cqesOff}: where the overflow counter and the CQE array are in {@code ring}. */
    CompletionQueue(MappedRing ring, long overflowOff, long cqesOff, long cqeSize) {
        this.ring = ring;
        this.mem = ring.memory;
        this.overflowOff = overflowOff;
        this.cqesOff = cqesOff;
        this.cqeSize = cqeSize;
        this.mask = ring.mask;
        this.entries = ring.entries;
        this.head = ring.headPlain();
    }

    /** The number of CQE slots (a power of two, at least the SQ size). */
    public int entries() { return entries; }

    /** CQEs posted by the kernel and not yet consumed. */
    public int ready() {
        return ring.tailAcquire() - head;
    }

    /**
     * The oldest unconsumed CQE, copied into this queue's reusable {@link Cqe}, or {@code null}
     * when there is none. Does not consume it: see {@link #advance(int)}.
     */
    public Cqe peek() {
        if (ring.tailAcquire() == head) return null;
        long at = cqesOff + (head & mask) * cqeSize;
        cqe.set(mem.get(JAVA_LONG, at + CQE_USER_DATA), mem.get(JAVA_INT, at + CQE_RES), mem.get(JAVA_INT, at + CQE_FLAGS));
        return cqe;
    }

    /** Like {@link #peek()}, and consumes the CQE. */
    public Cqe poll() {
        Cqe c = peek();
        if (c != null) advance(1);
        return c;
    }

    /** Consumes {@code n} CQEs (returns their slots to the kernel). */
    public void advance(int n) {
        if (n < 0 || n > ready()) throw new IllegalArgumentException("advance by " + n + " with " + ready() + " ready");
        head += n;
        ring.releaseHead(head);
    }

    /** Hands every ready CQE to {@code handler}, oldest first; returns how many. */
    public int drain(CompletionHandler handler) {
        return drain(handler, Integer.MAX_VALUE);
    }

    /**
     * Hands up to {@code max} ready CQEs to {@code handler}, oldest first, and consumes them with
     * one head store; returns how many. If the handler throws, the CQEs it had already been given
     * (including the one that threw) are consumed and the rest stay queued.
     */
    public int drain(CompletionHandler handler, int max) {
        int tail = ring.tailAcquire();
        int n = 0;
        try {
            while (head + n != tail && n < max) {
                long at = cqesOff + ((head + n) & mask) * cqeSize;
                long userData = mem.get(JAVA_LONG, at + CQE_USER_DATA);
                int res = mem.get(JAVA_INT, at + CQE_RES);
                int flags = mem.get(JAVA_INT, at + CQE_FLAGS);
                n++;
                handler.onCompletion(userData, res, flags);
            }
        } finally {
            if (n > 0) {
                head += n;
                ring.releaseHead(head);
            }
        }
        return n;
    }

    /**
     * CQEs the kernel had to drop because the queue was full. Kernels with
     * {@code IORING_FEAT_NODROP} (5.5+) keep them instead and raise {@code IORING_SQ_CQ_OVERFLOW},
     * which the next {@link IoUring#submit()} flushes.
     */
    public int overflow() {
        return ring.intAcquire(overflowOff);
    }

    /**
     * Turns eventfd notification on or off without unregistering the eventfd (an I/O thread that
     * is busy reaping can switch it off to save the eventfd writes).
     */
    public void setEventfdEnabled(boolean enabled) {
        int flags = ring.flagsPlain();
        flags = enabled ? flags & ~IORING_CQ_EVENTFD_DISABLED : flags | IORING_CQ_EVENTFD_DISABLED;
        ring.releaseFlags(flags);
    }

    public boolean eventfdEnabled() {
        return (ring.flagsAcquire() & IORING_CQ_EVENTFD_DISABLED) == 0;
    }
}
