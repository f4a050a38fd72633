package dev.vmm.virtio.blk;

import java.lang.foreign.MemorySegment;

/**
 * A synchronous disk, the same shape as {@code dev.vmm.block.BlockDevice}'s data methods, so any
 * image format plugs into {@link SyncBackendAdapter} with a trivial adapter:
 *
 * <pre>{@code
 * BlockDevice d = ...;
 * SyncDisk disk = new SyncDisk() {
 *     public long size() { return d.size(); }
 *     public boolean readOnly() { return d.readOnly(); }
 *     public void read(long o, MemorySegment dst) { d.read(o, dst); }
 *     public void write(long o, MemorySegment src) { d.write(o, src); }
 *     public void flush() { d.flush(); }
 *     public void discard(long o, long n) { d.discard(o, n); }
 *     public void writeZeroes(long o, long n, boolean unmap) { d.writeZeroes(o, n, unmap); }
 *     public void close() { d.close(); }
 * };
 * }</pre>
 *
 * Must be safe to call from several threads at once. Failures are thrown as any
 * {@link RuntimeException}; the device reports them to the guest as an I/O error.
 */
public interface SyncDisk extends AutoCloseable {
    long size();

    boolean readOnly();

    void read(long offset, MemorySegment dst);

    void write(long offset, MemorySegment src);

    void flush();

    void discard(long offset, long length);

    void writeZeroes(long offset, long length, boolean mayUnmap);

    @Override
    void close();
}
