package dev.vmm.block;

import java.lang.foreign.MemorySegment;

/** Base of the read-only formats (VHDX, VPC): refuses every modifying request. */
public abstract class ReadOnlyImage implements BlockDevice {
    protected final ImageFile file;

    protected ReadOnlyImage(ImageFile file) {
        this.file = file;
    }

    @Override public boolean readOnly() { return true; }

    @Override public void write(long offset, MemorySegment src) { checkWritable(); }

    @Override public void flush() {}

    @Override public void discard(long offset, long length) { checkWritable(); }

    @Override public void writeZeroes(long offset, long length, boolean mayUnmap) { checkWritable(); }

    @Override public void close() { file.close(); }

    /** Reads a block-mapped image: {@code hostOffset(block)} is the file offset of a block's data, or -1 for zeroes. */
    protected final void readBlocks(long offset, MemorySegment dst, long blockSize) {
        checkRange(offset, dst.byteSize());
        for (long done = 0; done < dst.byteSize(); ) {
            long off = offset + done;
            long in = off % blockSize;
            long n = Math.min(dst.byteSize() - done, blockSize - in);
            long host = blockOffset(off / blockSize);
            MemorySegment part = dst.asSlice(done, n);
            if (host < 0) part.fill((byte) 0);
            else file.read(host + in, part);
            done += n;
        }
    }

    /** Allocation status for a block-mapped image. */
    protected final Extent blockStatus(long offset, long maxLength, long blockSize) {
        checkRange(offset, 1);
        long max = Math.min(maxLength, size() - offset);
        long block = offset / blockSize;
        long host = blockOffset(block);
        long len = Math.min(max, blockSize - offset % blockSize);
        while (len < max) {
            long next = blockOffset(block + 1);
            if ((host < 0) != (next < 0) || (host >= 0 && next != host + blockSize)) break;
            block++;
            len = Math.min(max, len + blockSize);
        }
        if (host < 0) return new Extent(offset, len, false, true, 0, -1, null);
        return new Extent(offset, len, true, false, 0, host + offset % blockSize, file.path().toString());
    }

    /** File offset of the data of block {@code index}, or -1 when the block reads as zeroes. */
    protected abstract long blockOffset(long index);
}
