package dev.vmm.ffm.uring;

import static dev.vmm.ffm.uring.IoUringConstants.IORING_CQE_BUFFER_SHIFT;
import static dev.vmm.ffm.uring.IoUringConstants.IORING_CQE_F_BUFFER;
import static dev.vmm.ffm.uring.IoUringConstants.IORING_CQE_F_MORE;

/**
 * A copy of one completion queue entry. {@link CompletionQueue#peek()} and
 * {@link CompletionQueue#poll()} refill one instance per queue instead of allocating, so read the
 * fields before the next call.
 */
public final class Cqe {
    private long userData;
    private int res;
    private int flags;

    Cqe() {}

    void set(long userData, int res, int flags) {
        this.userData = userData;
        this.res = res;
        this.flags = flags;
    }

    /** The {@code user_data} of the SQE that completed. */
    public long userData() { return userData; }

    /** The operation's result: what the equivalent syscall returns, or {@code -errno}. */
    public int res() { return res; }

    /** {@code IORING_CQE_F_*} flags. */
    public int flags() { return flags; }

    /** More CQEs will follow for the same SQE (multishot poll). */
    public boolean hasMore() { return (flags & IORING_CQE_F_MORE) != 0; }

    /** The selected buffer's id, or -1 when no buffer was selected. */
    public int bufferId() { return (flags & IORING_CQE_F_BUFFER) != 0 ? flags >>> IORING_CQE_BUFFER_SHIFT : -1; }

    @Override
    public String toString() {
        return "Cqe[userData=" + userData + ", res=" + res + ", flags=0x" + Integer.toHexString(flags) + "]";
    }
}
