package dev.vmm.virtio.io.fixed;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The table of host memory ranges (guest RAM regions) registered with an io_uring as fixed buffers
 * ({@code IORING_REGISTER_BUFFERS}), and the lookup a request makes on its way to the ring: which
 * registered buffer, if any, holds {@code [address, address + length)}. A request whose buffer is
 * inside one goes out as {@code READ_FIXED}/{@code WRITE_FIXED} (the kernel skips pinning and
 * unpinning the pages per request); anything else keeps the plain path.
 *
 * <p>The kernel refuses registered buffers over 1 GiB, so a large region is split into 1 GiB
 * pieces; a request that straddles two pieces takes the plain path. Immutable: re-registering
 * after a memory change makes a new table. The lookup is a scan of a few longs, no allocation.
 */
public final class RegisteredBuffers {
    /** The kernel's limit on one registered buffer (io_uring/rsrc.c: SZ_1G). */
    public static final long MAX_BUFFER = 1L << 30;
    /** The kernel's limit on the number of registered buffers (IORING_MAX_REG_BUFFERS). */
    public static final int MAX_BUFFERS = 1 << 14;
    /** No buffers: every lookup misses. */
    public static final RegisteredBuffers NONE = new RegisteredBuffers(List.of());

    private final List<MemorySegment> buffers;
    private final long[] starts;
    private final long[] ends;

    private RegisteredBuffers(List<MemorySegment> buffers) {
        this.buffers = List.copyOf(buffers);
        this.starts = new long[buffers.size()];
        this.ends = new long[buffers.size()];
        for (int i = 0; i < starts.length; i++) {
            starts[i] = buffers.get(i).address();
            ends[i] = starts[i] + buffers.get(i).byteSize();
        }
    }

    /**
     * The table for {@code regions} (native segments, e.g. each guest RAM region's host mapping),
     * each cut into pieces of at most {@link #MAX_BUFFER} bytes.
     */
    public static RegisteredBuffers of(List<MemorySegment> regions) {
        List<MemorySegment> pieces = new ArrayList<>();
        for (MemorySegment r : regions) {
            if (!r.isNative()) throw new IllegalArgumentException("a heap segment cannot be registered with io_uring");
            for (long at = 0; at < r.byteSize(); at += MAX_BUFFER) {
                pieces.add(r.asSlice(at, Math.min(MAX_BUFFER, r.byteSize() - at)));
            }
        }
        if (pieces.size() > MAX_BUFFERS) {
            throw new IllegalArgumentException(pieces.size() + " buffers: io_uring registers at most " + MAX_BUFFERS);
        }
        return new RegisteredBuffers(pieces);
    }

    /** The buffers in registration order (index i is {@code buf_index} i). */
    public List<MemorySegment> buffers() { return buffers; }

    public int count() { return starts.length; }

    /**
     * The index of the registered buffer that holds all of {@code [address, address + length)}, or
     * -1 (none does, or {@code length} is not in 1..2^32-1, the SQE's u32 length).
     */
    public int indexOf(long address, long length) {
        if (length <= 0 || length > 0xFFFF_FFFFL) return -1;
        long end = address + length;
        if (end < address) return -1; // wraps around
        for (int i = 0; i < starts.length; i++) {
            if (address >= starts[i] && end <= ends[i]) return i;
        }
        return -1;
    }
}
