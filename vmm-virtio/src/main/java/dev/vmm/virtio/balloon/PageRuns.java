package dev.vmm.virtio.balloon;

/**
 * Collects the guest pages of one inflate request (or reported ranges) into runs of adjacent
 * pages, so that a 256-page inflate of contiguous memory costs one {@code madvise}, not 256. A page
 * already in the current run, or just below it, joins it too: a hostile driver repeating one PFN (or
 * counting down) 262 144 times in a request would otherwise cost 262 144 host calls. A repeated page
 * is still counted in {@link #released} (or {@link #failed}) once per occurrence, as when each
 * occurrence was its own call: releasing a released page again changes nothing on the host. A run
 * never crosses a RAM region (the host checks each run lies in one region; the caller flushes
 * before a page that starts a new region). Not thread-safe: one per queue pass.
 */
final class PageRuns {
    private final BalloonHost host;
    private long start = -1;
    private long length;
    private long repeated;   // bytes of pages given again while already in the current run
    private long released;
    private long failed;

    PageRuns(BalloonHost host) {
        this.host = host;
    }

    /**
     * Adds {@code [gpa, gpa + len)}; when {@code sameRegion}, extends the current run if adjacent on
     * either side, or counts it as repeated if already inside it.
     */
    void add(long gpa, long len, boolean sameRegion) {
        if (start >= 0 && sameRegion) {
            if (gpa == start + length) {
                length += len;
                return;
            }
            if (gpa + len == start) {
                start = gpa;
                length += len;
                return;
            }
            if (gpa >= start && gpa + len <= start + length) {
                repeated += len;
                return;
            }
        }
        flush();
        start = gpa;
        length = len;
    }

    /** Gives the current run to the host. */
    void flush() {
        if (start < 0) return;
        if (host.release(start, length)) released += length + repeated;
        else failed += length + repeated;
        start = -1;
        length = 0;
        repeated = 0;
    }

    /** Bytes the host took back so far. */
    long released() { return released; }

    /** Bytes the host failed to take back. */
    long failed() { return failed; }
}
