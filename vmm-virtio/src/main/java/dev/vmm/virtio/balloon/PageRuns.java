package dev.vmm.virtio.balloon;

/**
 * Collects the guest pages of one inflate request (or reported ranges) into runs of adjacent
 * pages, so that a 256-page inflate of contiguous memory costs one {@code madvise}, not 256. A run
 * never crosses a RAM region (the host checks each run lies in one region; the caller flushes
 * before a page that starts a new region). Not thread-safe: one per queue pass.
 */
final class PageRuns {
    private final BalloonHost host;
    private long start = -1;
    private long length;
    private long released;
    private long failed;

    PageRuns(BalloonHost host) {
        this.host = host;
    }

    /** Adds {@code [gpa, gpa + len)}; extends the current run when adjacent and {@code sameRegion}. */
    void add(long gpa, long len, boolean sameRegion) {
        if (start >= 0 && sameRegion && gpa == start + length) {
            length += len;
            return;
        }
        flush();
        start = gpa;
        length = len;
    }

    /** Gives the current run to the host. */
    void flush() {
        if (start < 0) return;
        if (host.release(start, length)) released += length;
        else failed += length;
        start = -1;
        length = 0;
    }

    /** Bytes the host took back so far. */
    long released() { return released; }

    /** Bytes the host failed to take back. */
    long failed() { return failed; }
}
