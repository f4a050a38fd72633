package dev.vmm.block.raw;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageInfo;

import java.lang.foreign.MemorySegment;

/** A raw image: the disk is the file, byte for byte. Fully concurrent (positional I/O only). */
public final class RawImage implements BlockDevice {
    private final ImageFile file;
    private final long size;

    public RawImage(ImageFile file) {
        this.file = file;
        this.size = file.size();
    }

    @Override public long size() { return size; }

    @Override public boolean readOnly() { return file.readOnly(); }

    @Override public String format() { return "raw"; }

    @Override
    public void read(long offset, MemorySegment dst) {
        checkRange(offset, dst.byteSize());
        file.read(offset, dst);
    }

    @Override
    public void write(long offset, MemorySegment src) {
        checkWritable();
        checkRange(offset, src.byteSize());
        file.write(offset, src);
    }

    @Override
    public void flush() {
        if (!readOnly()) file.sync();
    }

    @Override
    public void discard(long offset, long length) {
        checkWritable();
        checkRange(offset, length);
        if (length > 0 && !file.punchHole(offset, length)) {
            // Advisory: nothing to release on this file system, and the contract allows leaving data.
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) {
        checkWritable();
        checkRange(offset, length);
        if (length == 0) return;
        if (mayUnmap && file.punchHole(offset, length)) return;
        file.zeroRange(offset, length);
    }

    @Override
    public Extent status(long offset, long maxLength) {
        checkRange(offset, 1);
        return new Extent(offset, Math.min(maxLength, size - offset), true, false, 0, offset, file.path().toString());
    }

    @Override
    public ImageInfo info() { return ImageInfo.simple("raw", size); }

    @Override
    public void close() { file.close(); }
}
