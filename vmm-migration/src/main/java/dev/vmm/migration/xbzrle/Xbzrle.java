package dev.vmm.migration.xbzrle;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * XBZRLE (XOR-based zero run length encoding) page deltas, byte-for-byte in QEMU's wire format
 * (QEMU docs/xbzrle.txt):
 *
 * <pre>
 *   page  = zrun nzrun | zrun nzrun page
 *   zrun  = length             bytes equal to the old page (their XOR is zero)
 *   nzrun = length byte...     the new bytes
 *   length = ULEB128
 * </pre>
 *
 * <p>The encoder emits the canonical encoding: alternating <em>maximal</em> runs, so only the first
 * zero run can have length 0, a non-zero run is never empty, and the trailing zero run is omitted;
 * an unchanged page encodes to nothing. That is exactly what QEMU's encoder produces, so deltas from
 * either side are interchangeable (the interop test in {@code benchmarks} checks this against an
 * independent C implementation of the format).
 *
 * <p>Both directions work on {@link MemorySegment}s plus offsets so the hot path allocates nothing:
 * a page cache arena, guest RAM and a stream buffer can be passed as they are. Equal runs are found
 * with the JDK's vectorized {@link MemorySegment#mismatch}, changed runs 8 bytes at a time. All
 * methods are static and thread-safe.
 *
 * <p>Lengths are standard ULEB128 for any page size. QEMU only handles lengths below 16384 (two
 * ULEB128 bytes), which 4 KiB pages never exceed. QEMU's encoder also gives up a little early near
 * the limit (it wants room for two bytes before each run), so for a delta within a byte or two of
 * the limit it may send the full page where this one sends the delta; both are valid streams.
 */
public final class Xbzrle {
    /** The page size migration uses on x86. Any size works. */
    public static final int DEFAULT_PAGE_SIZE = 4096;

    /** {@link #encode} result when the delta would be longer than the limit: send the full page. */
    public static final int OVERFLOW = -1;

    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final long LOW_BITS = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;
    /** A ULEB128 of an int needs at most 5 bytes (5 x 7 bits >= 31 bits). */
    private static final int MAX_ULEB128_BYTES = 5;

    private Xbzrle() {}

    /**
     * Encodes {@code newPage} as a delta against {@code oldPage} into {@code dst}.
     *
     * @param pageSize bytes compared from each page
     * @param limit    the most bytes the delta may take in {@code dst}; pass {@code pageSize - 1}
     *                 to get a delta only when it is strictly smaller than the page
     * @return the delta length ({@code 0} if the pages are equal), or {@link #OVERFLOW} if the
     *         delta would exceed {@code limit}; bytes of {@code dst} past the returned length (up to
     *         {@code limit}) may have been overwritten
     */
    public static int encode(MemorySegment oldPage, long oldOffset, MemorySegment newPage, long newOffset, int pageSize,
                             MemorySegment dst, long dstOffset, int limit) {
        if (pageSize < 0 || limit < 0) throw new IllegalArgumentException("negative page size or limit");
        Objects.checkFromIndexSize(oldOffset, pageSize, oldPage.byteSize());
        Objects.checkFromIndexSize(newOffset, pageSize, newPage.byteSize());
        Objects.checkFromIndexSize(dstOffset, limit, dst.byteSize());
        int d = 0;
        int i = 0;
        while (true) {
            int zeroStart = i;
            i = skipEqual(oldPage, oldOffset, newPage, newOffset, i, pageSize);
            if (i == pageSize) return d; // the trailing zero run is implied, never encoded
            int zeroLength = i - zeroStart;
            int headerBytes = uleb128Size(zeroLength);
            // Bound the non-zero scan by what could still fit, so a fully rewritten page is
            // rejected after limit bytes rather than after the whole page.
            int budget = limit - d - headerBytes - 1; // room for the non-zero run's bytes (>= 1 length byte)
            if (budget < 1) return OVERFLOW;
            int scanEnd = (int) Math.min(pageSize, (long) i + budget + 1);
            int dataStart = i;
            i = skipDifferent(oldPage, oldOffset, newPage, newOffset, i, scanEnd);
            int dataLength = i - dataStart;
            int runBytes = headerBytes + uleb128Size(dataLength) + dataLength;
            if (runBytes > limit - d) return OVERFLOW;
            long out = dstOffset + d;
            out = putUleb128(dst, out, zeroLength);
            out = putUleb128(dst, out, dataLength);
            long from = newOffset + dataStart;
            if (dataLength <= Long.BYTES && from + Long.BYTES <= newOffset + pageSize && out + Long.BYTES <= dstOffset + limit) {
                // Short runs are the common case in busy pages and a byte loop mispredicts on every
                // one; store a whole word instead (what lies past the run gets overwritten later or
                // is past the returned length).
                dst.set(U64, out, newPage.get(U64, from));
            } else {
                copy(newPage, from, dst, out, dataLength);
            }
            d += runBytes;
        }
    }

    /** {@link #encode(MemorySegment, long, MemorySegment, long, int, MemorySegment, long, int)} on whole segments. */
    public static int encode(MemorySegment oldPage, MemorySegment newPage, MemorySegment dst, int limit) {
        if (oldPage.byteSize() != newPage.byteSize()) throw new IllegalArgumentException("pages differ in size");
        return encode(oldPage, 0, newPage, 0, Math.toIntExact(oldPage.byteSize()), dst, 0, limit);
    }

    /** Heap-array convenience; the page size is {@code oldPage.length}. */
    public static int encode(byte[] oldPage, byte[] newPage, byte[] dst, int limit) {
        return encode(MemorySegment.ofArray(oldPage), MemorySegment.ofArray(newPage), MemorySegment.ofArray(dst), limit);
    }

    /**
     * Applies {@code deltaLength} bytes of delta at {@code deltaOffset} to the old page in place,
     * turning it into the new page. An empty delta means "unchanged".
     *
     * <p>Runs are validated as they are applied: on a {@link XbzrleFormatException} the page may
     * already hold some of the new runs (the migration is broken at that point anyway). Use
     * {@link #validate} first if the page must stay intact.
     */
    public static void decode(MemorySegment delta, long deltaOffset, int deltaLength,
                              MemorySegment page, long pageOffset, int pageSize) throws XbzrleFormatException {
        run(delta, deltaOffset, deltaLength, page, pageOffset, pageSize, true);
    }

    /** {@link #decode(MemorySegment, long, int, MemorySegment, long, int)} from offset 0 over the whole page. */
    public static void decode(MemorySegment delta, int deltaLength, MemorySegment page) throws XbzrleFormatException {
        decode(delta, 0, deltaLength, page, 0, Math.toIntExact(page.byteSize()));
    }

    /** Heap-array convenience; the page size is {@code page.length}. */
    public static void decode(byte[] delta, int deltaLength, byte[] page) throws XbzrleFormatException {
        decode(MemorySegment.ofArray(delta), deltaLength, MemorySegment.ofArray(page));
    }

    /** Checks that a delta is well-formed for a page of {@code pageSize} bytes, touching no page. */
    public static void validate(MemorySegment delta, long deltaOffset, int deltaLength, int pageSize)
            throws XbzrleFormatException {
        run(delta, deltaOffset, deltaLength, null, 0, pageSize, false);
    }

    /** Bytes a ULEB128 encoding of the non-negative {@code value} takes. */
    public static int uleb128Size(int value) {
        if (value < 0) throw new IllegalArgumentException("negative length " + value);
        return value < (1 << 7) ? 1 : value < (1 << 14) ? 2 : value < (1 << 21) ? 3 : value < (1 << 28) ? 4 : 5;
    }

    // --- decoding -------------------------------------------------------------------------------

    private static void run(MemorySegment delta, long deltaOffset, int deltaLength,
                            MemorySegment page, long pageOffset, int pageSize, boolean apply)
            throws XbzrleFormatException {
        if (deltaLength < 0 || pageSize < 0) throw new IllegalArgumentException("negative delta length or page size");
        Objects.checkFromIndexSize(deltaOffset, deltaLength, delta.byteSize());
        if (apply) Objects.checkFromIndexSize(pageOffset, pageSize, page.byteSize());
        int p = 0; // position in the delta
        int d = 0; // position in the page
        // Error messages are built in separate methods to keep this loop small enough to inline well.
        while (p < deltaLength) {
            int runStart = p;
            long zero = readUleb128(delta, deltaOffset, deltaLength, p);
            int zeroLength = (int) zero;
            p += (int) (zero >>> 32);
            if (zeroLength == 0 && runStart != 0) throw emptyZeroRun(runStart);
            if (zeroLength > pageSize - d) throw pastPage("zero", zeroLength, d, pageSize, runStart);
            d += zeroLength;
            if (p == deltaLength) throw endsAfterZeroRun(p);
            int dataRunStart = p;
            long data = readUleb128(delta, deltaOffset, deltaLength, p);
            int dataLength = (int) data;
            p += (int) (data >>> 32);
            if (dataLength == 0) throw emptyDataRun(dataRunStart);
            if (dataLength > deltaLength - p) throw pastDelta(dataLength, deltaLength - p, dataRunStart);
            if (dataLength > pageSize - d) throw pastPage("non-zero", dataLength, d, pageSize, dataRunStart);
            if (apply) {
                long from = deltaOffset + p;
                long to = pageOffset + d;
                if (dataLength < Long.BYTES && p + Long.BYTES <= deltaLength && d + Long.BYTES <= pageSize) {
                    // Short run: merge one word under a mask rather than loop (see encode). The bytes
                    // past the run are rewritten with their own values, inside this page only.
                    long mask = -1L >>> (Long.SIZE - Byte.SIZE * dataLength);
                    page.set(U64, to, (page.get(U64, to) & ~mask) | (delta.get(U64, from) & mask));
                } else {
                    copy(delta, from, page, to, dataLength);
                }
            }
            p += dataLength;
            d += dataLength;
        }
    }

    private static XbzrleFormatException emptyZeroRun(int at) {
        return new XbzrleFormatException("zero run of length 0 after the first run", at);
    }

    private static XbzrleFormatException emptyDataRun(int at) {
        return new XbzrleFormatException("non-zero run of length 0", at);
    }

    private static XbzrleFormatException endsAfterZeroRun(int at) {
        return new XbzrleFormatException("delta ends after a zero run; a non-zero run must follow", at);
    }

    private static XbzrleFormatException pastPage(String kind, int length, int pageOffset, int pageSize, int at) {
        return new XbzrleFormatException(kind + " run of " + length + " bytes at page offset " + pageOffset
                + " passes the end of the " + pageSize + "-byte page", at);
    }

    private static XbzrleFormatException pastDelta(int length, int left, int at) {
        return new XbzrleFormatException("non-zero run of " + length + " bytes but only " + left + " left in the delta", at);
    }

    /**
     * Reads a ULEB128 length at {@code pos}: the value in the low 32 bits, the bytes consumed in
     * the high 32 bits (one long, so decoding allocates nothing). Non-minimal encodings are
     * accepted, as QEMU's decoder does; values beyond {@code Integer.MAX_VALUE} are not.
     */
    private static long readUleb128(MemorySegment delta, long base, int length, int pos) throws XbzrleFormatException {
        long value = 0;
        for (int n = 0; n < MAX_ULEB128_BYTES; n++) {
            if (pos + n >= length) throw new XbzrleFormatException("truncated ULEB128 length", pos);
            int b = delta.get(U8, base + pos + n) & 0xff;
            value |= (long) (b & 0x7f) << (7 * n);
            if ((b & 0x80) == 0) {
                if (value > Integer.MAX_VALUE) throw new XbzrleFormatException("ULEB128 length overflows", pos);
                return ((long) (n + 1) << 32) | value;
            }
        }
        throw new XbzrleFormatException("ULEB128 length overflows (more than " + MAX_ULEB128_BYTES + " bytes)", pos);
    }

    // --- encoding helpers -----------------------------------------------------------------------

    /** The first index in {@code [i, end)} where the pages differ, or {@code end}. */
    private static int skipEqual(MemorySegment a, long aOff, MemorySegment b, long bOff, int i, int end) {
        // Changes are usually short and far apart, so most of a page is one long equal run. One
        // word inline settles the short runs; the rest goes to the JDK's vectorized mismatch.
        if (i <= end - Long.BYTES) {
            long x = a.get(U64, aOff + i) ^ b.get(U64, bOff + i);
            // Little-endian load: the lowest differing byte holds the lowest set bit.
            if (x != 0) return i + (Long.numberOfTrailingZeros(x) >>> 3);
            i += Long.BYTES;
            if (i == end) return end;
        }
        long m = MemorySegment.mismatch(a, aOff + i, aOff + end, b, bOff + i, bOff + end);
        return m < 0 ? end : i + (int) m;
    }

    /** The first index in {@code [i, end)} where the pages are equal, or {@code end}. */
    private static int skipDifferent(MemorySegment a, long aOff, MemorySegment b, long bOff, int i, int end) {
        // A long induction variable lets C2 treat this as a counted loop over the segment.
        long bDelta = bOff - aOff;
        long last = aOff + end - Long.BYTES;
        long o = aOff + i;
        for (; o <= last; o += Long.BYTES) {
            long z = zeroBytes(a.get(U64, o) ^ b.get(U64, o + bDelta));
            if (z != 0) return (int) (o - aOff) + (Long.numberOfTrailingZeros(z) >>> 3);
        }
        for (i = (int) (o - aOff); i < end; i++) {
            if (a.get(U8, aOff + i) == b.get(U8, bOff + i)) return i;
        }
        return end;
    }

    /**
     * The high bit of each zero byte of {@code x}, by the classic "has a zero byte" test. It can also
     * flag bytes above the lowest zero byte (a borrow runs through it) but never below it, so the
     * lowest flag is exactly the first equal byte.
     */
    private static long zeroBytes(long x) {
        return (x - LOW_BITS) & ~x & HIGH_BITS;
    }

    /** MemorySegment.copy has a fixed cost that dominates runs of a few bytes; copy those inline. */
    private static void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, int length) {
        if (length >= 32) {
            MemorySegment.copy(src, srcOffset, dst, dstOffset, length);
            return;
        }
        int k = 0;
        for (; k <= length - Long.BYTES; k += Long.BYTES) dst.set(U64, dstOffset + k, src.get(U64, srcOffset + k));
        for (; k < length; k++) dst.set(U8, dstOffset + k, src.get(U8, srcOffset + k));
    }

    private static long putUleb128(MemorySegment dst, long pos, int value) {
        while ((value & ~0x7f) != 0) {
            dst.set(U8, pos++, (byte) (value | 0x80));
            value >>>= 7;
        }
        dst.set(U8, pos++, (byte) value);
        return pos;
    }
}
