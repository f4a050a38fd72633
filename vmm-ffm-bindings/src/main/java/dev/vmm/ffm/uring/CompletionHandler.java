package dev.vmm.ffm.uring;

/** Receives completions from {@link CompletionQueue#drain}: the fields of one CQE, nothing allocated. */
@FunctionalInterface
public interface CompletionHandler {
    /**
     * @param userData the {@code user_data} of the completed SQE
     * @param res      the result: what the equivalent syscall returns, or {@code -errno}
     * @param flags    {@code IORING_CQE_F_*} flags
     */
    void onCompletion(long userData, int res, int flags);
}
