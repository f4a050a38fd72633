package dev.vmm.virtio.io;

/**
 * Receives the io_uring completions whose SQEs were tagged with {@link IoThread#userData(int, long)}
 * for this target. Called on the owning {@link IoThread}; must not throw (the thread logs and
 * carries on if it does, but the request is then lost).
 */
@FunctionalInterface
public interface CompletionTarget {
    /**
     * @param token the 48-bit token given to {@link IoThread#userData(int, long)}
     * @param res   the CQE result: what the syscall returns, or {@code -errno}
     */
    void onCompletion(long token, int res);
}
