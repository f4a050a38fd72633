package dev.vmm.virtio.queue;

import dev.vmm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One descriptor chain taken off the available ring: its head index (what goes back into the used
 * ring) and its buffers, already followed through the descriptor table and any indirect table and
 * validated. Buffers are numbered 0..{@link #count()}-1; the first {@link #readableCount()} are
 * device-readable (driver → device), the rest device-writable (device → driver). Every buffer lies
 * inside one region of guest RAM.
 *
 * <p>The object is reusable: {@link SplitQueue#pop(DescriptorChain)} overwrites it, so the data
 * plane allocates nothing per request. A device with several requests in flight keeps one chain
 * object per request (a pool). Not thread-safe; hand it between threads with a happens-before edge.
 *
 * <p>The buffers stay valid guest RAM for the VMM's life (guest memory is immutable), but their
 * contents are the guest's and may change under the device at any time: copy what you validate.
 */
public final class DescriptorChain {
    private GuestMemory memory;
    private int head = -1;
    private int count;
    private int readableCount;
    private boolean indirect;
    private long readableBytes;
    private long writableBytes;
    private long[] addresses;
    private int[] lengths;

    public DescriptorChain() {
        this(8);
    }

    /** A chain object pre-sized for {@code capacity} buffers (it grows on demand). */
    public DescriptorChain(int capacity) {
        addresses = new long[Math.max(1, capacity)];
        lengths = new int[Math.max(1, capacity)];
    }

    /** Index of the chain's head descriptor: the id to pass to {@link SplitQueue#addUsed}. */
    public int head() { return head; }

    /** Number of buffers (descriptors that carry data; an indirect descriptor itself is not one). */
    public int count() { return count; }

    public int readableCount() { return readableCount; }

    public int writableCount() { return count - readableCount; }

    /** Whether the chain went through an indirect descriptor table. */
    public boolean isIndirect() { return indirect; }

    /** Sum of the lengths of the device-readable buffers. */
    public long readableBytes() { return readableBytes; }

    /** Sum of the lengths of the device-writable buffers. */
    public long writableBytes() { return writableBytes; }

    /** Guest-physical address of buffer {@code i}. */
    public long address(int i) {
        checkIndex(i);
        return addresses[i];
    }

    /** Length in bytes of buffer {@code i} (0 to 2^32-1). */
    public long length(int i) {
        checkIndex(i);
        return Integer.toUnsignedLong(lengths[i]);
    }

    /** Whether buffer {@code i} is device-writable, i.e. {@code i >= readableCount()}. */
    public boolean isWritable(int i) {
        checkIndex(i);
        return i >= readableCount;
    }

    /** Buffer {@code i} as a view of guest RAM (allocates a small segment object). */
    public MemorySegment segment(int i) {
        checkIndex(i);
        return memory.slice(addresses[i], Integer.toUnsignedLong(lengths[i]));
    }

    /**
     * Copies up to {@code dst.byteSize()} bytes of the readable part of the chain, starting
     * {@code offset} bytes into it, to {@code dst}. Returns the number of bytes copied (less than
     * asked if the readable part ends first).
     */
    public long readFromChain(long offset, MemorySegment dst) {
        return transfer(offset, false, dst, null, dst.byteSize());
    }

    /**
     * Copies {@code src} into the writable part of the chain, starting {@code offset} bytes into
     * it. Returns the number of bytes copied (less than {@code src.byteSize()} if the writable part
     * ends first).
     */
    public long writeToChain(long offset, MemorySegment src) {
        return transfer(offset, true, src, null, src.byteSize());
    }

    /** For headers and status bytes: {@link #readFromChain} into a byte array (no segment wrapper per call). */
    public int readFromChain(long offset, byte[] dst) {
        return (int) transfer(offset, false, null, dst, dst.length);
    }

    /** For headers and status bytes: {@link #writeToChain} from a byte array (no segment wrapper per call). */
    public int writeToChain(long offset, byte[] src) {
        return (int) transfer(offset, true, null, src, src.length);
    }

    /**
     * The one walk over the chain's buffers: the writable part ({@code toChain}) or the readable
     * part, from {@code offset} on, copying {@code want} bytes from/to a segment or (segment null)
     * an array — arrays are copied directly so that a status byte needs no wrapper object.
     */
    private long transfer(long offset, boolean toChain, MemorySegment segment, byte[] array, long want) {
        long done = 0;
        for (int i = toChain ? readableCount : 0, end = toChain ? count : readableCount; i < end && done < want; i++) {
            long len = Integer.toUnsignedLong(lengths[i]);
            if (offset >= len) {
                offset -= len;
                continue;
            }
            long n = Math.min(len - offset, want - done);
            long gpa = addresses[i] + offset;
            if (segment != null) {
                if (toChain) memory.copyIn(segment, done, gpa, n);
                else memory.copyOut(gpa, segment, done, n);
            } else if (toChain) {
                memory.write(gpa, array, (int) done, (int) n);
            } else {
                memory.read(gpa, array, (int) done, (int) n);
            }
            done += n;
            offset = 0;
        }
        return done;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("DescriptorChain[head=").append(head);
        if (indirect) sb.append(", indirect");
        for (int i = 0; i < count; i++) {
            sb.append(i == 0 ? ", " : " ").append(i < readableCount ? 'R' : 'W')
                    .append("0x").append(Long.toHexString(addresses[i]))
                    .append('+').append(Integer.toUnsignedString(lengths[i]));
        }
        return sb.append(']').toString();
    }

    // ---- filled in by SplitQueue ----

    void start(GuestMemory memory, int head) {
        this.memory = memory;
        this.head = head;
        this.count = 0;
        this.readableCount = 0;
        this.indirect = false;
        this.readableBytes = 0;
        this.writableBytes = 0;
    }

    void markIndirect() { indirect = true; }

    /** Appends a buffer already checked to lie in RAM; returns false if it breaks R-before-W order. */
    boolean add(long address, int length, boolean writable) {
        if (!writable && readableCount != count) return false;
        if (count == addresses.length) grow();
        addresses[count] = address;
        lengths[count] = length;
        count++;
        if (writable) {
            writableBytes += Integer.toUnsignedLong(length);
        } else {
            readableCount++;
            readableBytes += Integer.toUnsignedLong(length);
        }
        return true;
    }

    private void grow() {
        int n = addresses.length * 2;
        addresses = Arrays.copyOf(addresses, n);
        lengths = Arrays.copyOf(lengths, n);
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("buffer " + i + " of a chain of " + count);
    }

}
