package dev.vmm.virtio.blk;

/** Where a {@link BlkBackendQueue} reports finished requests, always on the queue's I/O thread. */
@FunctionalInterface
public interface BlkCompletionSink {
    /**
     * @param token  the token the request was submitted with
     * @param result bytes transferred (reads/writes), 0 (other requests), or {@code -errno}
     */
    void complete(long token, int result);
}
