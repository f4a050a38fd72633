package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;

import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A {@link BlockDevice} of any size whose bytes are computed from their offset (so a 1 GiB medium or
 * a 200 GiB disk costs no memory), read-only. {@link #failing} makes every operation throw, as an
 * image with an I/O error does. Counts flushes.
 */
final class PatternDisk implements BlockDevice {
    private final long size;
    volatile boolean failing;
    /** {@link #size} throws: a broken image layer the device model does not expect. */
    volatile boolean brokenSize;
    volatile int flushes;

    PatternDisk(long size) {
        this.size = size;
    }

    /** The byte at {@code offset}. */
    static byte at(long offset) {
        return (byte) (offset * 31 + (offset >>> 9) * 7 + (offset >>> 11));
    }

    static byte[] bytes(long offset, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = at(offset + i);
        return b;
    }

    private void check() {
        if (failing) throw new UncheckedIOException(new java.io.IOException("injected I/O error"));
    }

    @Override public long size() {
        if (brokenSize) throw new IllegalStateException("injected failure of size()");
        return size;
    }

    @Override public boolean readOnly() { return true; }

    @Override public String format() { return "pattern"; }

    @Override
    public void read(long offset, MemorySegment dst) {
        check();
        checkRange(offset, dst.byteSize());
        for (long i = 0; i < dst.byteSize(); i++) dst.set(ValueLayout.JAVA_BYTE, i, at(offset + i));
    }

    @Override
    public void write(long offset, MemorySegment src) {
        check();
        checkWritable();
    }

    @Override
    public void flush() {
        check();
        flushes++;
    }

    @Override public void discard(long offset, long length) { checkWritable(); }

    @Override public void writeZeroes(long offset, long length, boolean mayUnmap) { checkWritable(); }

    @Override public Extent status(long offset, long maxLength) { throw new UnsupportedOperationException(); }

    @Override public ImageInfo info() { throw new UnsupportedOperationException(); }

    @Override public void close() { }
}
