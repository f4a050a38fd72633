package dev.vmm.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Guest RAM by guest-physical address, in the spirit of rust-vmm's vm-memory. Every access is
 * bounds-checked against the regions, and what callers get back is a {@link MemorySegment} slice
 * no larger than what they asked for: a guest-supplied address or length can never make the VMM
 * read or write outside guest RAM. Accesses are little-endian, as x86 and virtio are.
 *
 * <p>Immutable after construction; safe to share between vCPU, I/O and migration threads.
 */
public final class GuestMemory {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final GuestRegion[] regions;
    private final long totalSize;

    /** Regions must not overlap; they are sorted by base here. */
    public GuestMemory(List<GuestRegion> regions) {
        this.regions = regions.stream()
                .sorted((a, b) -> Long.compareUnsigned(a.base(), b.base()))
                .toArray(GuestRegion[]::new);
        long total = 0;
        for (int i = 0; i < this.regions.length; i++) {
            if (i > 0 && this.regions[i - 1].end() > this.regions[i].base()) {
                throw new IllegalArgumentException("guest memory regions overlap at 0x" + Long.toHexString(this.regions[i].base()));
            }
            total += this.regions[i].size();
        }
        this.totalSize = total;
    }

    public List<GuestRegion> regions() { return List.of(regions); }

    /** Total RAM in bytes (holes excluded). */
    public long size() { return totalSize; }

    /** The highest guest-physical address + 1 covered by RAM. */
    public long end() { return regions.length == 0 ? 0 : regions[regions.length - 1].end(); }

    /** The region holding all of {@code [gpa, gpa+len)}, or null. */
    public GuestRegion regionFor(long gpa, long len) {
        for (GuestRegion r : regions) {
            if (r.contains(gpa, len)) return r;
        }
        return null;
    }

    /** Whether {@code [gpa, gpa+len)} lies inside one region of guest RAM. */
    public boolean isValid(long gpa, long len) {
        return regionFor(gpa, len) != null;
    }

    /**
     * A view of {@code [gpa, gpa+len)}. Throws {@link GuestMemoryException} unless the whole range
     * lies in one region (virtio buffers may not straddle a hole; callers split at region ends).
     */
    public MemorySegment slice(long gpa, long len) {
        GuestRegion r = region(gpa, len);
        return r.host().asSlice(gpa - r.base(), len);
    }

    // The accessors and copies below address the region's segment directly instead of through a
    // slice: the same bounds (the region check, then the segment's own), and no slice object per
    // access — on the request path, where escape analysis did not always remove it (JFR, #19).

    /** The region holding all of {@code [gpa, gpa+len)}; throws {@link GuestMemoryException} otherwise. */
    private GuestRegion region(long gpa, long len) {
        GuestRegion r = regionFor(gpa, len);
        if (r == null) throw new GuestMemoryException(gpa, len);
        return r;
    }

    public byte readU8(long gpa) { GuestRegion r = region(gpa, 1); return r.host().get(ValueLayout.JAVA_BYTE, gpa - r.base()); }

    public short readU16(long gpa) { GuestRegion r = region(gpa, 2); return r.host().get(U16, gpa - r.base()); }

    public int readU32(long gpa) { GuestRegion r = region(gpa, 4); return r.host().get(U32, gpa - r.base()); }

    public long readU64(long gpa) { GuestRegion r = region(gpa, 8); return r.host().get(U64, gpa - r.base()); }

    public void writeU8(long gpa, byte v) { GuestRegion r = region(gpa, 1); r.host().set(ValueLayout.JAVA_BYTE, gpa - r.base(), v); }

    public void writeU16(long gpa, short v) { GuestRegion r = region(gpa, 2); r.host().set(U16, gpa - r.base(), v); }

    public void writeU32(long gpa, int v) { GuestRegion r = region(gpa, 4); r.host().set(U32, gpa - r.base(), v); }

    public void writeU64(long gpa, long v) { GuestRegion r = region(gpa, 8); r.host().set(U64, gpa - r.base(), v); }

    /** Copies {@code len} bytes from guest memory at {@code gpa} into {@code dst[off..]}. */
    public void read(long gpa, byte[] dst, int off, int len) {
        GuestRegion r = region(gpa, len);
        MemorySegment.copy(r.host(), ValueLayout.JAVA_BYTE, gpa - r.base(), dst, off, len);
    }

    /** Copies bytes into guest memory at {@code gpa}. */
    public void write(long gpa, byte[] src, int off, int len) {
        GuestRegion r = region(gpa, len);
        MemorySegment.copy(src, off, r.host(), ValueLayout.JAVA_BYTE, gpa - r.base(), len);
    }

    public void write(long gpa, byte[] src) { write(gpa, src, 0, src.length); }

    /** Copies a host segment into guest memory at {@code gpa}. */
    public void write(long gpa, MemorySegment src) {
        copyIn(src, 0, gpa, src.byteSize());
    }

    /**
     * The host virtual address of {@code [gpa, gpa+len)} (checked as {@link #slice}), for the kernel
     * (an iovec of io_uring readv/writev): the address without a slice object per buffer.
     */
    public long hostAddress(long gpa, long len) {
        GuestRegion r = region(gpa, len);
        return r.host().address() + (gpa - r.base());
    }

    /** Copies {@code len} bytes of {@code src} from {@code srcOffset} into guest memory at {@code gpa}. */
    public void copyIn(MemorySegment src, long srcOffset, long gpa, long len) {
        GuestRegion r = region(gpa, len);
        MemorySegment.copy(src, srcOffset, r.host(), gpa - r.base(), len);
    }

    /** Copies {@code len} bytes of guest memory at {@code gpa} into {@code dst} at {@code dstOffset}. */
    public void copyOut(long gpa, MemorySegment dst, long dstOffset, long len) {
        GuestRegion r = region(gpa, len);
        MemorySegment.copy(r.host(), gpa - r.base(), dst, dstOffset, len);
    }
}
