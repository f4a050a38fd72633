package dev.vmm.migration;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A cheap 64-bit page fingerprint for verification mode, built like xxHash64 (four independent
 * multiply-rotate lanes over 8-byte words, merged and avalanched; constants from its published
 * description). Four lanes keep the CPU's multipliers busy, so a 4 KiB page costs about a
 * microsecond on this loaded host; 64 bits make a missed change (equal hash for a changed page) a 2^-64 event, where
 * CRC32C's 32 bits would be too few for millions of pages per migration.
 *
 * <p>Not the reference xxHash64 byte for byte (no length mixing, page sizes a multiple of 32);
 * both ends of a migration never compare hashes, only the source does.
 */
public final class PageHash {
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long P1 = 0x9E3779B185EBCA87L;
    private static final long P2 = 0xC2B2AE3D27D4EB4FL;
    private static final long P3 = 0x165667B19E3779F9L;
    private static final long P4 = 0x85EBCA77C2B2AE63L;

    private PageHash() {}

    /** The hash of {@code size} bytes at {@code seg[offset...]}; {@code size} a multiple of 32. */
    public static long hash(MemorySegment seg, long offset, int size) {
        if ((size & 31) != 0) throw new IllegalArgumentException("page size " + size + " is not a multiple of 32");
        long v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1;
        long end = offset + size;
        for (long p = offset; p < end; p += 32) {
            v1 = round(v1, seg.get(U64, p));
            v2 = round(v2, seg.get(U64, p + 8));
            v3 = round(v3, seg.get(U64, p + 16));
            v4 = round(v4, seg.get(U64, p + 24));
        }
        long h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        h = merge(h, v4);
        h ^= h >>> 33;
        h *= P2;
        h ^= h >>> 29;
        h *= P3;
        h ^= h >>> 32;
        return h;
    }

    private static long round(long acc, long input) {
        acc += input * P2;
        acc = Long.rotateLeft(acc, 31);
        return acc * P1;
    }

    private static long merge(long h, long v) {
        h ^= round(0, v);
        return h * P1 + P4;
    }
}
