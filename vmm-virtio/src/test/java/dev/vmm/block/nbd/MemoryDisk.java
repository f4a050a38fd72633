package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/** A disk in a byte array, with 4 KiB blocks that are holes until written: the fuzz targets' and unit tests' export. */
final class MemoryDisk implements BlockDevice {
    static final int BLOCK = 4096;
    final byte[] bytes;
    final boolean[] allocated;
    private final boolean readOnly;

    MemoryDisk(int size, boolean readOnly) {
        this.bytes = new byte[size];
        this.allocated = new boolean[(size + BLOCK - 1) / BLOCK];
        this.readOnly = readOnly;
    }

    @Override public long size() { return bytes.length; }
    @Override public boolean readOnly() { return readOnly; }
    @Override public String format() { return "raw"; }

    @Override
    public synchronized void read(long offset, MemorySegment dst) {
        checkRange(offset, dst.byteSize());
        MemorySegment.copy(MemorySegment.ofArray(bytes), offset, dst, 0, dst.byteSize());
    }

    @Override
    public synchronized void write(long offset, MemorySegment src) {
        checkWritable();
        checkRange(offset, src.byteSize());
        MemorySegment.copy(src, 0, MemorySegment.ofArray(bytes), offset, src.byteSize());
        for (long b = offset / BLOCK; b * BLOCK < offset + src.byteSize(); b++) allocated[(int) b] = true;
    }

    @Override public void flush() {}

    @Override
    public synchronized void discard(long offset, long length) {
        checkWritable();
        checkRange(offset, length);
        for (long b = (offset + BLOCK - 1) / BLOCK; (b + 1) * BLOCK <= offset + length; b++) {
            allocated[(int) b] = false;
            Arrays.fill(bytes, (int) (b * BLOCK), (int) Math.min(bytes.length, (b + 1) * BLOCK), (byte) 0);
        }
    }

    @Override
    public synchronized void writeZeroes(long offset, long length, boolean mayUnmap) {
        checkWritable();
        checkRange(offset, length);
        Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
        if (mayUnmap) discard(offset, length);
    }

    @Override
    public synchronized Extent status(long offset, long maxLength) {
        checkRange(offset, 1);
        long max = Math.min(maxLength, size() - offset);
        int b = (int) (offset / BLOCK);
        boolean a = allocated[b];
        long len = Math.min(max, (long) (b + 1) * BLOCK - offset);
        while (len < max && allocated[b + 1] == a) {
            b++;
            len = Math.min(max, len + BLOCK);
        }
        return new Extent(offset, len, a, !a, 0, a ? offset : -1, a ? "memory" : null);
    }

    @Override public ImageInfo info() { return ImageInfo.simple("raw", size()); }
    @Override public void close() {}
}
