package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;

import java.lang.foreign.MemorySegment;

/**
 * An image a device uses but does not own (a QMP block node's, opened by {@code blockdev-add}):
 * everything goes to the image except {@link #close}, which leaves it open and locked for its
 * owner, who closes it at {@code blockdev-del}.
 */
record BorrowedImage(BlockDevice image) implements BlockDevice {
    @Override public long size() { return image.size(); }

    @Override public boolean readOnly() { return image.readOnly(); }

    @Override public String format() { return image.format(); }

    @Override public void read(long offset, MemorySegment dst) { image.read(offset, dst); }

    @Override public void write(long offset, MemorySegment src) { image.write(offset, src); }

    @Override public void flush() { image.flush(); }

    @Override public void discard(long offset, long length) { image.discard(offset, length); }

    @Override public void writeZeroes(long offset, long length, boolean mayUnmap) { image.writeZeroes(offset, length, mayUnmap); }

    @Override public Extent status(long offset, long maxLength) { return image.status(offset, maxLength); }

    @Override public ImageInfo info() { return image.info(); }

    /** The device is done with the image; its owner still holds it. */
    @Override public void close() { }
}
