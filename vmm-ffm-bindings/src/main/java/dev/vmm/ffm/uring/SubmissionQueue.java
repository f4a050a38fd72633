package dev.vmm.ffm.uring;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.function.UnaryOperator;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The submission side of an {@link IoUring}: hands out free SQE slots and publishes the filled
 * ones to the kernel.
 *
 * <p>Ownership: the ring's {@code head} is written by the kernel, {@code tail} by us. We keep our
 * own tail ({@code sqeTail}) that runs ahead of the published one while SQEs are being filled;
 * {@link #flush()} publishes it with a release store, so the kernel (which loads the tail with
 * acquire) sees every SQE written before it. The head is loaded with acquire because an SQPOLL
 * kernel thread advances it concurrently; a slot is only reused after the kernel has moved past
 * it. The SQ index array is filled once with the identity mapping, so slot {@code i} is always
 * SQE {@code i} and flushing is a single store.
 *
 * <p>Not thread-safe: one ring belongs to one (I/O) thread.
 */
public final class SubmissionQueue {
    private final MappedRing ring;
    private final long droppedOff;
    private final int mask;
    private final int entries;
    private final Sqe[] slots;
    /** Next free slot (ours alone; may run ahead of the published tail). */
    private int sqeTail;
    /** The tail value last stored into the ring. */
    private int publishedTail;

    /** {@code droppedOff}, {@code arrayOff}: where the dropped counter and the index array are in {@code ring}. */
    SubmissionQueue(MappedRing ring, MemorySegment sqes, long droppedOff, long arrayOff, long sqeSize) {
        this.ring = ring;
        this.droppedOff = droppedOff;
        this.mask = ring.mask;
        this.entries = ring.entries;
        this.slots = new Sqe[entries];
        for (int i = 0; i < entries; i++) {
            slots[i] = new Sqe(sqes, i * sqeSize);
            ring.memory.set(JAVA_INT, arrayOff + 4L * i, i);
        }
        this.sqeTail = ring.tailPlain();
        this.publishedTail = sqeTail;
    }

    /** The number of SQE slots (a power of two). */
    public int entries() { return entries; }

    /**
     * The next free SQE, zeroed, or {@code null} when all slots are taken by SQEs that are filled
     * but not yet consumed by the kernel (submit, then reap completions, then try again).
     */
    public Sqe next() {
        int head = ring.headAcquire();
        if (sqeTail - head >= entries) return null;
        Sqe sqe = slots[sqeTail & mask];
        sqeTail++;
        sqe.clear();
        return sqe;
    }

    /** Free slots left for {@link #next()}. */
    public int available() {
        return entries - (sqeTail - ring.headAcquire());
    }

    /** SQEs handed out by {@link #next()} but not yet published by {@link #flush()}. */
    public int unpublished() {
        return sqeTail - publishedTail;
    }

    /**
     * Publishes the filled SQEs (release store of the tail); returns how many published SQEs the
     * kernel has not consumed yet, i.e. the {@code to_submit} of the next io_uring_enter.
     */
    int flush() {
        if (sqeTail != publishedTail) {
            ring.releaseTail(sqeTail);
            publishedTail = sqeTail;
        }
        return publishedTail - ring.headAcquire();
    }

    /** The SQ ring flags ({@code IORING_SQ_NEED_WAKEUP}, {@code IORING_SQ_CQ_OVERFLOW}, {@code IORING_SQ_TASKRUN}). */
    public int ringFlags() {
        return ring.flagsAcquire();
    }

    /**
     * Whether an SQPOLL thread has gone to sleep and needs {@code IORING_ENTER_SQ_WAKEUP}. The full
     * fence orders our tail store before the flags load: the kernel thread sets the flag, then
     * re-checks the tail, so one of the two sides always sees the other.
     */
    boolean sqPollNeedsWakeup() {
        VarHandle.fullFence();
        return (ring.flagsPlain() & IoUringConstants.IORING_SQ_NEED_WAKEUP) != 0;
    }

    /** SQEs the kernel dropped as invalid (index out of range); stays 0 with this wrapper. */
    public int dropped() {
        return ring.intAcquire(droppedOff);
    }

    /**
     * Takes the next slot and fills it with {@code fill} (one of the {@link Sqe} {@code prep}
     * methods, e.g. {@code s -> s.prepRead(fd, buf, offset)}), then sets {@code userData}; null when
     * the queue is full. An invalid argument throws and gives the slot back, so no half-filled SQE
     * is submitted. For set-up paths and tests: a capturing {@code fill} may allocate, so a hot
     * path fills {@link #next()}'s slot itself (as {@code UringRawBackend} and the I/O threads do).
     */
    public Sqe prep(long userData, UnaryOperator<Sqe> fill) {
        Sqe s = next();
        if (s == null) return null;
        try {
            return fill.apply(s).userData(userData);
        } catch (RuntimeException e) {
            sqeTail--;
            throw e;
        }
    }
}
