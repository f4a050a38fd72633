package dev.vmm.virtio.blk;

import java.lang.foreign.MemorySegment;

/**
 * One queue's submission channel into a {@link BlkBackend}, used only on the queue's I/O thread.
 * Every method starts one request and returns at once; the result arrives later through the
 * {@link BlkCompletionSink} given at open time, with the same {@code token} (48 bits).
 *
 * <p>Data buffers are passed as an array of {@code struct iovec} ({@link dev.vmm.ffm.libc.Libc#IOVEC})
 * pointing straight into guest memory; the caller keeps the array unchanged until the completion.
 * Offsets and lengths are in bytes; the device has already checked them against {@link BlkBackend#size()}.
 */
public interface BlkBackendQueue extends AutoCloseable {
    void read(long offset, MemorySegment iovecs, int count, long token);

    void write(long offset, MemorySegment iovecs, int count, long token);

    /** Makes every completed write durable. */
    void flush(long token);

    /** Releases {@code [offset, offset+length)} (reads back as zeroes on a raw file). */
    void discard(long offset, long length, long token);

    /** Makes the range read as zeroes; with {@code unmap} its storage may be released. */
    void writeZeroes(long offset, long length, boolean unmap, long token);

    /** Requests submitted and not yet completed. */
    int inFlight();

    /** Detaches from the I/O thread; only once {@link #inFlight()} is 0. */
    @Override
    void close();
}
