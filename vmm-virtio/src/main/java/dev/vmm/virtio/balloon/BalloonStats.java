package dev.vmm.virtio.balloon;

import java.util.Arrays;

/**
 * The guest's memory statistics as last reported on the stats queue (virtio 1.x §5.5.6.3): one
 * 64-bit value per known tag, {@link #UNSET} (all ones, what QMP shows as 2^64-1) for a tag the
 * guest never reported, and the host time of the report in seconds (0: never).
 */
public record BalloonStats(long[] values, long lastUpdate) {
    /** VIRTIO_BALLOON_S_* tags, in tag order. */
    public static final int SWAP_IN = 0, SWAP_OUT = 1, MAJFLT = 2, MINFLT = 3, MEMFREE = 4, MEMTOT = 5, AVAIL = 6,
            CACHES = 7, HTLB_PGALLOC = 8, HTLB_PGFAIL = 9;
    /** How many tags are kept; the guest may send others (newer drivers), which are ignored. */
    public static final int TAGS = 10;
    /** A tag never reported. */
    public static final long UNSET = -1L;

    /** The names QMP's {@code guest-stats} uses for the tags, by tag. */
    private static final String[] QMP_NAMES = {"stat-swap-in", "stat-swap-out", "stat-major-faults", "stat-minor-faults",
            "stat-free-memory", "stat-total-memory", "stat-available-memory", "stat-disk-caches", "stat-htlb-pgalloc",
            "stat-htlb-pgfail"};

    public BalloonStats {
        if (values.length != TAGS) throw new IllegalArgumentException("balloon stats need " + TAGS + " values");
        values = values.clone();
    }

    /** Nothing reported yet. */
    public static BalloonStats none() {
        long[] v = new long[TAGS];
        Arrays.fill(v, UNSET);
        return new BalloonStats(v, 0);
    }

    /** QMP's name for {@code tag}. */
    public static String qmpName(int tag) { return QMP_NAMES[tag]; }

    public long value(int tag) { return values[tag]; }

    @Override
    public long[] values() { return values.clone(); }

    @Override
    public boolean equals(Object o) {
        return o instanceof BalloonStats s && s.lastUpdate == lastUpdate && Arrays.equals(s.values, values);
    }

    @Override
    public int hashCode() { return Arrays.hashCode(values) * 31 + Long.hashCode(lastUpdate); }

    @Override
    public String toString() { return "BalloonStats" + Arrays.toString(values) + "@" + lastUpdate; }
}
