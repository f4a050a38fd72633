package dev.vmm.migration.xbzrle;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The source side of XBZRLE for one migration: decides, page by page, whether to send a delta
 * against the cached copy or the full page, and keeps the cache equal to what the destination has.
 *
 * <p>The page is first copied to a private snapshot, and both the delta and the cache update are
 * made from that snapshot, as QEMU does: the guest keeps running and may write the page meanwhile,
 * and a delta computed from one version but cached as another would silently corrupt every later
 * delta of that page on the destination. For the same reason, when the result is
 * {@link #CACHE_MISS} or {@link #OVERFLOW} the caller must send {@link #snapshot()}, not guest RAM.
 *
 * <p>Not thread-safe: one migration thread owns it.
 */
public final class XbzrlePageEncoder implements AutoCloseable {
    /** Not cached: send the full page from {@link #snapshot()} (now cached). */
    public static final int CACHE_MISS = -2;
    /** The delta did not fit the limit: send the full page from {@link #snapshot()} (now cached). */
    public static final int OVERFLOW = Xbzrle.OVERFLOW;

    private final PageCache cache;
    private final int pageSize;
    private final Arena arena = Arena.ofShared(); // built on one thread, used on the migration thread
    private final MemorySegment snapshot;

    private long bytes;
    private long pages;
    private long overflows;
    private long unchanged;
    private boolean closed;

    /** An encoder with a cache of {@code cacheBytes} for pages of {@code pageSize} bytes. */
    public XbzrlePageEncoder(long cacheBytes, int pageSize) {
        this.cache = new PageCache(cacheBytes, pageSize);
        this.pageSize = pageSize;
        this.snapshot = arena.allocate(pageSize, Long.BYTES);
    }

    public PageCache cache() { return cache; }

    public int pageSize() { return pageSize; }

    /** The copy of the page last passed to {@link #encode}: what to send in full on a miss or overflow. */
    public MemorySegment snapshot() { return snapshot; }

    /**
     * Encodes the page of frame {@code pfn} at {@code page[offset, offset+pageSize)}.
     *
     * @param limit the most delta bytes to write at {@code dst[dstOffset...]}; {@code pageSize - 1}
     *              sends a delta only when it is smaller than the page
     * @return the delta length in {@code dst}; {@code 0} if the page equals its cached copy (send
     *         nothing); {@link #CACHE_MISS} or {@link #OVERFLOW} to send {@link #snapshot()} in full
     */
    public int encode(long pfn, MemorySegment page, long offset, MemorySegment dst, long dstOffset, int limit) {
        MemorySegment.copy(page, offset, snapshot, 0, pageSize);
        int slot = cache.lookup(pfn);
        if (slot < 0) {
            cache.put(pfn, snapshot, 0);
            return CACHE_MISS;
        }
        MemorySegment cached = cache.data();
        long cachedOffset = cache.slotOffset(slot);
        int n = Xbzrle.encode(cached, cachedOffset, snapshot, 0, pageSize, dst, dstOffset, limit);
        if (n == 0) {
            unchanged++;
            return 0;
        }
        MemorySegment.copy(snapshot, 0, cached, cachedOffset, pageSize);
        if (n == Xbzrle.OVERFLOW) {
            overflows++;
            return OVERFLOW;
        }
        pages++;
        bytes += n;
        return n;
    }

    /** {@link #encode(long, MemorySegment, long, MemorySegment, long, int)} with {@code limit = pageSize - 1}. */
    public int encode(long pfn, MemorySegment page, long offset, MemorySegment dst, long dstOffset) {
        return encode(pfn, page, offset, dst, dstOffset, pageSize - 1);
    }

    /** Changes the cache size (QEMU's {@code xbzrle-cache-size}); may be called mid-migration. */
    public void resizeCache(long cacheBytes) { cache.resize(cacheBytes); }

    public XbzrleCacheStats stats() {
        long lookups = cache.hits() + cache.misses();
        return new XbzrleCacheStats(cache.capacityBytes(), bytes, pages, cache.misses(),
                lookups == 0 ? 0 : (double) cache.misses() / lookups,
                bytes == 0 ? 0 : (double) pages * pageSize / bytes,
                overflows, cache.hits(), unchanged);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cache.close();
        arena.close();
    }
}
