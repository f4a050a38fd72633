package dev.vmm.scsi;

import dev.vmm.block.TestDisk;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** A RAM disk that records discards, write-zeroes and flushes, and can be made to fail. */
final class RamStore implements TestDisk {
    final byte[] data;
    final boolean readOnly;
    final List<String> ops = new ArrayList<>();
    boolean fail;

    RamStore(int size, boolean readOnly) {
        this.data = new byte[size];
        this.readOnly = readOnly;
    }

    @Override public long size() { return data.length; }

    @Override public boolean readOnly() { return readOnly; }

    @Override
    public synchronized void read(long offset, MemorySegment dst) {
        if (fail) throw new IllegalStateException("injected");
        MemorySegment.copy(MemorySegment.ofArray(data), offset, dst, 0, dst.byteSize());
    }

    @Override
    public synchronized void write(long offset, MemorySegment src) {
        if (fail) throw new IllegalStateException("injected");
        MemorySegment.copy(src, 0, MemorySegment.ofArray(data), offset, src.byteSize());
    }

    @Override public synchronized void flush() { ops.add("flush"); }

    @Override
    public synchronized void discard(long offset, long length) {
        ops.add("discard " + offset + "+" + length);
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
    }

    @Override
    public synchronized void writeZeroes(long offset, long length, boolean mayUnmap) {
        ops.add("zeroes " + offset + "+" + length + (mayUnmap ? " unmap" : ""));
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
    }
}
