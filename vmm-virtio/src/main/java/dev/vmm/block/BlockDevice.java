package dev.vmm.block;

import java.lang.foreign.MemorySegment;

/**
 * A virtual disk as the storage devices (virtio-blk, virtio-scsi) see it: a byte-addressed array of
 * {@link #size()} bytes backed by an image file of some format. This layer knows nothing of virtio.
 *
 * <p>Threading contract: every implementation may be called concurrently from several I/O threads.
 * Requests that touch overlapping ranges concurrently have no defined order (like a real disk); a
 * {@link #flush()} makes every request that <em>completed</em> before it was called durable.
 *
 * <p>Offsets and lengths are in bytes and need no alignment. A range past {@link #size()} is an
 * error ({@link BlockException}); the device model turns it into an I/O error status.
 */
public interface BlockDevice extends AutoCloseable {

    /** Virtual size in bytes. */
    long size();

    /** True when writes, discards and write-zeroes are refused. */
    boolean readOnly();

    /** Format name as qemu-img spells it ("raw", "qcow2", "vhdx", "vpc"). */
    String format();

    /** Reads {@code dst.byteSize()} bytes at {@code offset}. Unallocated ranges read as zeroes (or the backing file). */
    void read(long offset, MemorySegment dst);

    /** Writes {@code src.byteSize()} bytes at {@code offset}. Durable only after {@link #flush()}. */
    void write(long offset, MemorySegment src);

    /** Makes every completed write durable (fsync of data and metadata, in crash-safe order). */
    void flush();

    /**
     * Tells the image that a range is no longer needed. Advisory: whole clusters (or blocks) inside the
     * range are released and then read as zeroes; partial ones are left as they are.
     */
    void discard(long offset, long length);

    /**
     * Makes a range read as zeroes. With {@code mayUnmap} the storage behind whole clusters may be
     * released (like a discard that guarantees zeroes); without it, allocated storage is kept.
     */
    void writeZeroes(long offset, long length, boolean mayUnmap);

    /**
     * Allocation status of the range that starts at {@code offset}: the returned extent starts at
     * {@code offset} and covers at most {@code maxLength} bytes of uniform status.
     */
    Extent status(long offset, long maxLength);

    /** Static facts about the image for {@code vmm img info}. */
    ImageInfo info();

    /** Flushes (when writable) and releases the file(s) and their locks. */
    @Override
    void close();

    /** Checks that {@code [offset, offset+length)} lies inside the disk. */
    default void checkRange(long offset, long length) {
        if (offset < 0 || length < 0 || offset > size() || length > size() - offset) {
            throw new BlockException("request [" + offset + ", +" + length + ") is outside the disk (size " + size() + ")");
        }
    }

    /** Refuses a modifying request on a read-only device. */
    default void checkWritable() {
        if (readOnly()) throw new BlockException("the image is open read-only");
    }
}
