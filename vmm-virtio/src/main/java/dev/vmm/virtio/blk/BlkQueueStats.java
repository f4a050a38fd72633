package dev.vmm.virtio.blk;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Counters and request latency (HdrHistogram, nanoseconds from pop to used-ring entry) of one
 * queue. Written only by the queue's I/O thread; read from anywhere (counters are volatile, the
 * histogram is a {@link Recorder}, so reading never blocks the data path).
 */
public final class BlkQueueStats {
    final Recorder latency = new Recorder(3);
    private final Histogram total = new Histogram(3);
    volatile long reads, writes, flushes, discards, writeZeroes, unsupported;
    volatile long bytesRead, bytesWritten, errors, throttled, queueErrors;

    public long reads() { return reads; }
    public long writes() { return writes; }
    public long flushes() { return flushes; }
    public long discards() { return discards; }
    public long writeZeroes() { return writeZeroes; }
    public long bytesRead() { return bytesRead; }
    public long bytesWritten() { return bytesWritten; }
    /** Requests answered with IOERR. */
    public long errors() { return errors; }
    /** Times a request had to wait for its throttle budget. */
    public long throttled() { return throttled; }
    public long queueErrors() { return queueErrors; }

    /** Latency of every request completed so far (a copy). */
    public synchronized Histogram latency() {
        total.add(latency.getIntervalHistogram());
        return total.copy();
    }

    /** One line: counts, bytes and latency percentiles in microseconds. */
    public String summary() {
        Histogram h = latency();
        return String.format("%d reqs (rd %d / %d B, wr %d / %d B, flush %d, discard %d, wzeroes %d), %d errors, %d throttled; "
                        + "latency us p50 %.1f p99 %.1f p99.9 %.1f max %.1f",
                h.getTotalCount(), reads, bytesRead, writes, bytesWritten, flushes, discards, writeZeroes, errors, throttled,
                h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
                h.getMaxValue() / 1e3);
    }
}
