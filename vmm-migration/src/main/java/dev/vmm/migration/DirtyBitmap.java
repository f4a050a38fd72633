package dev.vmm.migration;

/**
 * The pages the source still has to send, one bitmap per RAM region (bit {@code i % 64} of word
 * {@code i / 64} for page {@code i}, KVM's layout). The dirty log's bits are OR-ed in at each
 * sync; {@link #drain} hands out and clears them. Migration thread only, except
 * {@link #remaining()}, which statistics read from anywhere.
 */
final class DirtyBitmap {
    /** Visits one dirty page (region, page index in the region). */
    interface PageVisitor {
        void page(int region, long index) throws Exception;
    }

    private final RamLayout layout;
    private final long[][] bits;
    private volatile long remaining;

    /** A bitmap with every page dirty: the first round sends all of RAM. */
    DirtyBitmap(RamLayout layout) {
        this.layout = layout;
        bits = new long[layout.regionCount()][];
        for (int r = 0; r < bits.length; r++) {
            long pages = layout.pages(r);
            bits[r] = new long[(int) ((pages + 63) >>> 6)];
            for (long p = 0; p < pages; p++) bits[r][(int) (p >>> 6)] |= 1L << (p & 63);
        }
        remaining = layout.totalPages;
    }

    /** Pages dirty and not sent yet. */
    long remaining() { return remaining; }

    /** Folds the dirty log (fetched and cleared) into the bitmap; returns the number of dirty pages. */
    long sync(DirtyLog log) throws Exception {
        long count = 0;
        for (int r = 0; r < bits.length; r++) {
            long[] fetched = log.fetchAndClear(r);
            long[] d = bits[r];
            if (fetched.length < d.length) {
                throw new IllegalStateException("dirty log of region " + r + " has " + fetched.length + " words, need " + d.length);
            }
            for (int i = 0; i < d.length; i++) d[i] |= fetched[i];
            int tail = (int) (layout.pages(r) & 63);
            if (tail != 0) d[d.length - 1] &= (1L << tail) - 1; // ignore bits past the region
            for (long w : d) count += Long.bitCount(w);
        }
        remaining = count;
        return count;
    }

    /**
     * Clears each dirty page's bit and then visits it, in address order; runs {@code check} after
     * every 64 pages' word so a cancel or a peer's failure stops the pass soon.
     */
    void drain(PageVisitor visitor, AbortCheck check) throws Exception {
        long left = remaining;
        for (int r = 0; r < bits.length; r++) {
            long[] d = bits[r];
            for (int i = 0; i < d.length; i++) {
                long w = d[i];
                while (w != 0) {
                    int bit = Long.numberOfTrailingZeros(w);
                    w &= w - 1;
                    d[i] = w;
                    visitor.page(r, ((long) i << 6) + bit);
                    remaining = --left;
                }
                check.check();
            }
        }
        remaining = 0;
    }
}
