package dev.vmm.scsi;

import dev.vmm.block.BlockDevice;

import java.lang.foreign.MemorySegment;

/**
 * The synchronous disk a logical unit sits on: the data methods of {@link BlockDevice} (raw, qcow2,
 * vhdx, vpc), so {@link #of(BlockDevice)} is all the glue needed. Must be safe to call from several
 * threads at once; failures are thrown as any {@link RuntimeException} and become MEDIUM ERROR /
 * HARDWARE ERROR sense.
 */
public interface BlockStore {
    long size();

    boolean readOnly();

    void read(long offset, MemorySegment dst);

    void write(long offset, MemorySegment src);

    void flush();

    void discard(long offset, long length);

    void writeZeroes(long offset, long length, boolean mayUnmap);

    /** The data methods of {@code d} (closing stays the caller's job). */
    static BlockStore of(BlockDevice d) {
        return new BlockStore() {
            @Override public long size() { return d.size(); }
            @Override public boolean readOnly() { return d.readOnly(); }
            @Override public void read(long o, MemorySegment dst) { d.read(o, dst); }
            @Override public void write(long o, MemorySegment src) { d.write(o, src); }
            @Override public void flush() { d.flush(); }
            @Override public void discard(long o, long n) { d.discard(o, n); }
            @Override public void writeZeroes(long o, long n, boolean u) { d.writeZeroes(o, n, u); }
        };
    }
}
