package dev.vmm.virtio.blk;

import dev.vmm.virtio.io.IoThread;

/**
 * The disk behind a virtio-blk device, as its data plane sees it: asynchronous and bound to the
 * {@link IoThread} that serves each queue. Implementations: {@link UringRawBackend} (a raw image
 * through io_uring, zero-copy from guest memory) and {@link SyncBackendAdapter} (any synchronous
 * disk, e.g. {@code dev.vmm.block.BlockDevice}, run on a small worker pool).
 *
 * <p>{@link #size()}, {@link #readOnly()} and the capability methods are constant for the
 * backend's life and may be called from any thread.
 */
public interface BlkBackend extends AutoCloseable {
    /** Virtual disk size in bytes. */
    long size();

    /** Whether writes, discards and write-zeroes must be refused. */
    boolean readOnly();

    /**
     * Whether {@link BlkBackendQueue#discard} releases storage (false: the device does not offer
     * DISCARD). By default every writable backend can.
     */
    default boolean supportsDiscard() { return !readOnly(); }

    /** Whether {@link BlkBackendQueue#writeZeroes} is available (false: WRITE_ZEROES not offered); by default when writable. */
    default boolean supportsWriteZeroes() { return !readOnly(); }

    /**
     * Whether writes are durable on completion (write-through, e.g. O_DSYNC): the device then does
     * not offer FLUSH and completes FLUSH requests at once.
     */
    boolean writeThrough();

    /** The identity a GET_ID request returns when the device has no explicit serial (up to 20 bytes). */
    String defaultSerial();

    /**
     * Opens the per-queue submission channel for a queue served by {@code thread}; completions are
     * delivered to {@code sink} on that thread. Called on {@code thread}.
     */
    BlkBackendQueue openQueue(IoThread thread, BlkCompletionSink sink);

    /**
     * Live migration hand-over: makes every completed write durable and drops the image lock so the
     * destination VMM can take it. The default (backends without a lock) does nothing.
     */
    default void releaseLock() { }

    /**
     * Takes the image lock (again): after {@link #releaseLock()}, or for a backend opened without it.
     *
     * @throws BlkBackendException if another process holds it
     */
    default void acquireLock() { }

    /** Releases the image (and its lock). Queues must be closed first. */
    @Override
    void close();
}
