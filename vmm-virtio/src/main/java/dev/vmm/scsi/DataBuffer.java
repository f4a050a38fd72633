package dev.vmm.scsi;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A scatter-gather data buffer of a SCSI command (data-out or data-in): an ordered list of memory
 * segments, e.g. slices of guest RAM. Disk transfers go straight between the disk and the pieces
 * (no copy); small responses (INQUIRY, MODE SENSE...) are copied in.
 */
public final class DataBuffer {
    public static final DataBuffer EMPTY = new DataBuffer(new MemorySegment[0]);

    private final MemorySegment[] pieces;
    private final long size;

    public DataBuffer(MemorySegment... pieces) {
        this.pieces = pieces.clone();
        long s = 0;
        for (MemorySegment p : pieces) s += p.byteSize();
        this.size = s;
    }

    public static DataBuffer of(byte[] bytes) {
        return new DataBuffer(MemorySegment.ofArray(bytes));
    }

    public long size() { return size; }

    /** What a disk transfer does with one contiguous piece at {@code bufferOffset} in this buffer. */
    public interface PieceAction {
        void apply(long bufferOffset, MemorySegment piece);
    }

    /** Applies {@code action} to the pieces covering {@code [from, from+length)} of this buffer. */
    public void forEach(long from, long length, PieceAction action) {
        if (from < 0 || length < 0 || from + length > size) {
            throw new IndexOutOfBoundsException("range [" + from + ", +" + length + ") of a " + size + "-byte buffer");
        }
        long pos = 0, end = from + length;
        for (MemorySegment p : pieces) {
            long pEnd = pos + p.byteSize();
            long a = Math.max(pos, from), b = Math.min(pEnd, end);
            if (a < b) action.apply(a, p.asSlice(a - pos, b - a));
            pos = pEnd;
            if (pos >= end) break;
        }
    }

    /** Copies {@code min(src.length, size - at)} bytes of {@code src} in at {@code at}; returns the count. */
    public long write(long at, byte[] src) {
        long n = Math.max(0, Math.min(src.length, size - at));
        if (n > 0) {
            MemorySegment s = MemorySegment.ofArray(src);
            forEach(at, n, (off, piece) -> MemorySegment.copy(s, off - at, piece, 0, piece.byteSize()));
        }
        return n;
    }

    /** Copies {@code length} bytes from {@code at} into a new array (the caller checked the size). */
    public byte[] read(long at, int length) {
        byte[] dst = new byte[length];
        MemorySegment d = MemorySegment.ofArray(dst);
        forEach(at, length, (off, piece) -> MemorySegment.copy(piece, 0, d, off - at, piece.byteSize()));
        return dst;
    }

    @Override
    public String toString() {
        return "DataBuffer[" + pieces.length + " pieces, " + size + " bytes]";
    }

    /** For tests and debugging: the sizes of the pieces. */
    long[] pieceSizes() {
        return Arrays.stream(pieces).mapToLong(MemorySegment::byteSize).toArray();
    }
}
