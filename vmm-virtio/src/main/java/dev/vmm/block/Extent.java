package dev.vmm.block;

/**
 * A range of uniform allocation status, as reported by {@link BlockDevice#status}.
 *
 * @param offset     guest offset of the range
 * @param length     its length in bytes (> 0)
 * @param data       the range is allocated in some layer of the chain (reads come from a file)
 * @param zero       the range reads as zeroes
 * @param depth      how many backing links were followed to find the layer that defines the range
 *                   (0 = the top image); for unallocated ranges, the depth of the chain's end
 * @param hostOffset offset of the data in {@code file}, or -1 when the range is not mapped 1:1 to a
 *                   file range (zero, unallocated, compressed)
 * @param file       the file that holds the data, or null when {@code hostOffset} is -1
 * @param allocated  some layer of the chain defines the range (data, or a zero cluster); false for a
 *                   range no layer defines (qemu-img map's "present")
 */
public record Extent(long offset, long length, boolean data, boolean zero, int depth, long hostOffset, String file, boolean allocated) {

    /** A range that some layer defines (allocated). */
    public Extent(long offset, long length, boolean data, boolean zero, int depth, long hostOffset, String file) {
        this(offset, length, data, zero, depth, hostOffset, file, true);
    }

    public Extent {
        if (length <= 0) throw new IllegalArgumentException("empty extent at " + offset);
    }

    /** The same status on a shorter range starting at the same offset. */
    public Extent truncate(long newLength) {
        return newLength >= length ? this : new Extent(offset, newLength, data, zero, depth, hostOffset, file, allocated);
    }

    /** The same status seen one backing level further up (the caller's layer did not define it). */
    public Extent deeper() {
        return new Extent(offset, length, data, zero, depth + 1, hostOffset, file, allocated);
    }

    /** Whether {@code next} continues this extent with the same status (and contiguous host offsets). */
    public boolean mergeableWith(Extent next) {
        if (next.offset != offset + length || next.allocated != allocated || next.data != data || next.zero != zero || next.depth != depth) return false;
        if (hostOffset < 0 || next.hostOffset < 0) return hostOffset == next.hostOffset && java.util.Objects.equals(file, next.file);
        return next.hostOffset == hostOffset + length && java.util.Objects.equals(file, next.file);
    }

    public Extent mergedWith(Extent next) {
        return new Extent(offset, length + next.length, data, zero, depth, hostOffset, file, allocated);
    }
}
