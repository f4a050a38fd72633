package dev.vmm.migration;

import dev.vmm.migration.xbzrle.XbzrleCacheStats;
import dev.vmm.migration.xbzrle.XbzrlePageEncoder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import java.util.stream.IntStream;

/**
 * Sends guest RAM page by page: the RAM passes over the dirty bitmap and, in verified mode, the
 * stop-and-copy pass that resends every page whose hash no longer matches what was sent.
 *
 * <p>Every page goes out from a private copy taken once: the zero test, the XBZRLE delta and cache
 * update, and the verification hash all describe exactly the bytes the destination got, even while
 * the vCPUs write the page. Migration thread only; the counters are read by statistics anywhere.
 * {@link #close()} frees the native buffers and the XBZRLE cache.
 */
final class PageSender implements AutoCloseable {
    /** Pages hashed per parallel task of the verification pass. */
    private static final int VERIFY_CHUNK_PAGES = 4096;

    private final RamLayout layout;
    private final SourceStream out;
    private final int pageSize;
    private final XbzrlePageEncoder encoder; // null without the xbzrle capability
    private final long[] sentHash;           // null unless verified mode
    private final byte[] buf;
    private final byte[] delta;
    // The page copy and the zero page are native memory, like guest RAM: the hash, the zero test and
    // the encoder then see one kind of segment all along. When the live phase had fed them heap
    // copies, the stop-and-copy hash pass over guest RAM hit deoptimized code and its first 50 ms
    // (of 80 for 128 MiB) went to the interpreter and recompilation — all of it downtime.
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment bufSeg;
    private final MemorySegment deltaSeg;
    private final MemorySegment zeroSeg;
    private final long[] hashScratch = new long[PageHash.SCRATCH_LONGS];
    private boolean firstPass = true;
    private long hashNanos;
    private long hashCount;

    /**
     * @param xbzrleCacheBytes the XBZRLE cache size, or a negative value without the capability
     * @param verified         whether to keep a hash of every page sent (verified mode)
     */
    PageSender(RamLayout layout, SourceStream out, long xbzrleCacheBytes, boolean verified) {
        this.layout = layout;
        this.out = out;
        this.pageSize = layout.pageSize;
        buf = new byte[pageSize];
        delta = new byte[pageSize];
        deltaSeg = MemorySegment.ofArray(delta);
        bufSeg = arena.allocate(pageSize, pageSize);
        zeroSeg = arena.allocate(pageSize, pageSize); // allocate() zeroes
        sentHash = verified ? new long[(int) layout.totalPages] : null;
        encoder = xbzrleCacheBytes < 0 ? null : new XbzrlePageEncoder(xbzrleCacheBytes, pageSize);
        if (encoder != null) xbzrleStats = encoder.stats();
    }

    // Statistics, written by the migration thread and read from anywhere.
    private volatile long duplicate;
    private volatile long normal;
    private volatile long pageRecords;
    private volatile long verifiedResent;
    private volatile XbzrleCacheStats xbzrleStats;

    /** Zero pages sent as a flag (QEMU's {@code duplicate}). */
    long duplicate() { return duplicate; }

    /** Pages sent whole (QEMU's {@code normal}). */
    long normal() { return normal; }

    /** Page records written (checked by the destination at {@code complete}). */
    long pageRecords() { return pageRecords; }

    /** Pages the verification pass found changed and resent. */
    long verifiedResent() { return verifiedResent; }

    /** XBZRLE cache statistics, or null without the capability. */
    XbzrleCacheStats xbzrleStats() { return xbzrleStats; }

    /** Applies a changed {@code xbzrle-cache-size} (between rounds). */
    void resizeCacheIfChanged(long requestedBytes) {
        if (encoder == null) return;
        long bytes = Math.max(pageSize, requestedBytes / pageSize * pageSize);
        if (encoder.cache().capacityBytes() != bytes) encoder.resizeCache(requestedBytes);
    }

    /** What the verification pass will cost at stop-and-copy, from the hash time measured so far. */
    long verifyCostMs() {
        if (sentHash == null || hashCount == 0) return 0;
        return hashNanos / hashCount * layout.totalPages / 1_000_000;
    }

    /** Sends (and clears) every page of {@code dirty}. */
    void sendDirty(DirtyBitmap dirty, AbortCheck check) throws Exception {
        dirty.drain(this::sendPage, check);
        firstPass = false;
        if (encoder != null) xbzrleStats = encoder.stats();
    }

    private void sendPage(int r, long index) throws Exception {
        long pfn = layout.pfn(r, index);
        MemorySegment.copy(layout.regions[r].host(), index * pageSize, bufSeg, 0, pageSize);
        if (MemorySegment.mismatch(bufSeg, 0, pageSize, zeroSeg, 0, pageSize) < 0) {
            out.zeroPage(pfn);
            duplicate++;
            pageRecords++;
            // Keep the cache equal to the destination's page, so a later small write is a delta.
            // As QEMU, the first pass caches no zero page: an idle guest's empty RAM would flush the cache.
            if (encoder != null && (!firstPass || encoder.cache().contains(pfn))) encoder.cache().put(pfn, zeroSeg, 0);
        } else {
            int n = encoder == null ? XbzrlePageEncoder.CACHE_MISS : encoder.encode(pfn, bufSeg, 0, deltaSeg, 0);
            if (n > 0) {
                out.deltaPage(pfn, delta, n);
                pageRecords++;
            } else if (n < 0) {
                // Miss or overflow: bufSeg holds exactly the encoder's snapshot, now cached.
                MemorySegment.copy(bufSeg, ValueLayout.JAVA_BYTE, 0, buf, 0, pageSize);
                out.fullPage(pfn, buf, pageSize);
                normal++;
                pageRecords++;
            } // n == 0: the destination's copy (== cached copy) already equals this page
        }
        if (sentHash != null) {
            long t = System.nanoTime();
            sentHash[layout.globalIndex(r, index)] = PageHash.hash(bufSeg, 0, pageSize, hashScratch);
            hashNanos += System.nanoTime() - t;
            hashCount++;
        }
        if ((pageRecords & 255) == 0 && encoder != null) xbzrleStats = encoder.stats();
    }

    /** Whether this sender keeps page hashes (verified mode). */
    boolean verified() { return sentHash != null; }

    /**
     * Stop-and-copy in verified mode: rehashes every page and resends those whose hash differs
     * from what was sent. The VM is paused, so RAM is stable: the hashing runs in parallel on the
     * common fork-join pool (it is most of this pass, and all of it is downtime); the resends
     * then go out in address order on this thread.
     *
     * @return the nanoseconds spent hashing (the rest of the pass is resending)
     */
    long resendChangedPages(AbortCheck check) throws Exception {
        long hashing = 0;
        for (int r = 0; r < layout.regionCount(); r++) {
            long h0 = System.nanoTime();
            BitSet[] stale = changedPages(r);
            hashing += System.nanoTime() - h0;
            check.check();
            for (int c = 0; c < stale.length; c++) {
                for (int i = stale[c].nextSetBit(0); i >= 0; i = stale[c].nextSetBit(i + 1)) {
                    sendPage(r, (long) c * VERIFY_CHUNK_PAGES + i);
                    verifiedResent++;
                }
                check.check();
            }
        }
        if (encoder != null) xbzrleStats = encoder.stats();
        return hashing;
    }

    /** Per chunk of region {@code r}, the pages whose hash differs from the one sent. */
    private BitSet[] changedPages(int r) {
        MemorySegment host = layout.regions[r].host();
        long pages = layout.pages(r);
        int chunks = (int) ((pages + VERIFY_CHUNK_PAGES - 1) / VERIFY_CHUNK_PAGES);
        BitSet[] stale = new BitSet[chunks];
        IntStream.range(0, chunks).parallel().forEach(c -> {
            BitSet b = new BitSet();
            long[] scratch = new long[PageHash.SCRATCH_LONGS];
            long start = (long) c * VERIFY_CHUNK_PAGES, end = Math.min(pages, start + VERIFY_CHUNK_PAGES);
            for (long p = start; p < end; p++) {
                if (PageHash.hash(host, p * pageSize, pageSize, scratch) != sentHash[layout.globalIndex(r, p)]) {
                    b.set((int) (p - start));
                }
            }
            stale[c] = b;
        });
        return stale;
    }

    /** Call once the sending is over: frees the page buffers and the XBZRLE cache. */
    @Override
    public void close() {
        if (encoder != null) {
            xbzrleStats = encoder.stats();
            encoder.close();
        }
        arena.close();
    }
}
