package dev.vmm.ahci;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A {@link BlockDevice} in a byte array, for the fuzz target and unit tests; records discards and
 * flushes. An optional gate makes reads wait (to hold a command in flight).
 */
final class MemoryDisk implements BlockDevice {
    final byte[] data;
    final boolean readOnly;
    final List<long[]> discards = Collections.synchronizedList(new ArrayList<>());
    volatile int flushes;
    /** Every operation throws, as an image with an I/O error does. */
    volatile boolean failing;
    volatile java.util.concurrent.CountDownLatch gate;
    final java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);

    MemoryDisk(byte[] data, boolean readOnly) {
        this.data = data;
        this.readOnly = readOnly;
    }

    @Override public long size() { return data.length; }

    @Override public boolean readOnly() { return readOnly; }

    @Override public String format() { return "raw"; }

    @Override
    public void read(long offset, MemorySegment dst) {
        fail();
        checkRange(offset, dst.byteSize());
        var g = gate;
        if (g != null) {
            entered.countDown();
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        MemorySegment.copy(MemorySegment.ofArray(data), offset, dst, 0, dst.byteSize());
    }

    @Override
    public void write(long offset, MemorySegment src) {
        fail();
        checkWritable();
        checkRange(offset, src.byteSize());
        MemorySegment.copy(src, 0, MemorySegment.ofArray(data), offset, src.byteSize());
    }

    @Override public void flush() {
        fail();
        flushes++;
    }

    private void fail() {
        if (failing) throw new java.io.UncheckedIOException(new java.io.IOException("injected I/O error"));
    }

    @Override
    public void discard(long offset, long length) {
        fail();
        checkWritable();
        checkRange(offset, length);
        discards.add(new long[] {offset, length});
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) {
        checkWritable();
        checkRange(offset, length);
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override public Extent status(long offset, long maxLength) { throw new UnsupportedOperationException(); }

    @Override public ImageInfo info() { throw new UnsupportedOperationException(); }

    @Override public void close() { }
}
