package dev.vmm.virtio.blk;

import dev.vmm.ratelimit.TokenBucket;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * I/O limits shared by one or more queues (or disks): token buckets for bytes/s and operations/s,
 * each total and per direction, each with its own burst allowance (bucket size = limit × burst
 * seconds). Limits can be changed at run time from any thread ({@code synchronized}); I/O threads
 * ask {@link #reserve} before submitting a request and, when told to wait, retry after that delay
 * (the request and the ones behind it on the same queue wait; other queues are not held up unless
 * they share the group's budget).
 *
 * <p>The clock is injectable (nanoseconds, monotonic) so the bucket arithmetic can be tested
 * without wall time.
 */
public final class ThrottleGroup {
    /** The six limits. */
    public enum Limit { TOTAL_BYTES, READ_BYTES, WRITE_BYTES, TOTAL_OPS, READ_OPS, WRITE_OPS }

    private final String name;
    private final LongSupplier clock;
    private final TokenBucket[] buckets = new TokenBucket[Limit.values().length];
    private long throttled;
    private volatile boolean active;

    public ThrottleGroup(String name) {
        this(name, System::nanoTime);
    }

    public ThrottleGroup(String name, LongSupplier nanoClock) {
        this.name = name;
        this.clock = nanoClock;
        long now = nanoClock.getAsLong();
        for (int i = 0; i < buckets.length; i++) buckets[i] = new TokenBucket(now);
    }

    public String name() { return name; }

    /** Sets one limit: {@code perSecond} units per second (0 = unlimited), bursts of {@code burstSeconds}. */
    public synchronized void setLimit(Limit limit, long perSecond, double burstSeconds) {
        if (perSecond < 0) throw new IllegalArgumentException(limit + " limit " + perSecond + " < 0");
        if (!(burstSeconds > 0) || burstSeconds > 3600) throw new IllegalArgumentException("burst " + burstSeconds + " s not in (0, 3600]");
        buckets[limit.ordinal()].setRate(perSecond, burstSeconds, clock.getAsLong());
        boolean any = false;
        for (TokenBucket b : buckets) any |= !b.unlimited();
        active = any;
    }

    /**
     * Whether any limit is set, without taking the lock: the I/O threads skip {@link #reserve}
     * (and its lock) entirely for a disk that has a group for run-time limits but no limit yet.
     */
    public boolean active() { return active; }

    /** Sets one limit with a one-second burst. */
    public void setLimit(Limit limit, long perSecond) {
        setLimit(limit, perSecond, 1.0);
    }

    public synchronized long limit(Limit limit) {
        return buckets[limit.ordinal()].ratePerSecond();
    }

    /** Whether any limit is set. */
    public synchronized boolean enabled() {
        for (TokenBucket b : buckets) if (!b.unlimited()) return true;
        return false;
    }

    /** How many times {@link #reserve} said "wait". */
    public synchronized long throttledCount() { return throttled; }

    /**
     * Asks to start one request of {@code bytes} bytes ({@code write}: write, discard and
     * write-zeroes; otherwise a read). Returns 0 and charges every relevant bucket if it may go
     * now, otherwise charges nothing and returns the nanoseconds to wait before asking again.
     */
    public synchronized long reserve(boolean write, long bytes) {
        long now = clock.getAsLong();
        TokenBucket tb = buckets[Limit.TOTAL_BYTES.ordinal()];
        TokenBucket db = buckets[(write ? Limit.WRITE_BYTES : Limit.READ_BYTES).ordinal()];
        TokenBucket to = buckets[Limit.TOTAL_OPS.ordinal()];
        TokenBucket dop = buckets[(write ? Limit.WRITE_OPS : Limit.READ_OPS).ordinal()];
        tb.refill(now);
        db.refill(now);
        to.refill(now);
        dop.refill(now);
        long wait = Math.max(Math.max(tb.waitNanos(bytes), db.waitNanos(bytes)), Math.max(to.waitNanos(1), dop.waitNanos(1)));
        if (wait > 0) {
            throttled++;
            return wait;
        }
        tb.take(bytes);
        db.take(bytes);
        to.take(1);
        dop.take(1);
        return 0;
    }

    /**
     * Parses limits like {@code "bps=10M,iops=500,bps_rd=...,bps_wr=...,iops_rd=...,iops_wr=...,burst=2"}
     * (k/M/G suffixes are powers of 1024 for bytes, of 1000 for ops) and applies them.
     */
    public void configure(String spec) {
        double burst = 1.0;
        String[] parts = spec.split(",");
        for (String p : parts) {
            if (p.trim().toLowerCase(Locale.ROOT).startsWith("burst=")) burst = Double.parseDouble(p.trim().substring(6));
        }
        for (String p : parts) {
            String[] kv = p.trim().split("=", 2);
            if (kv.length != 2) throw new IllegalArgumentException("throttle option '" + p + "': expected key=value");
            String k = kv[0].toLowerCase(Locale.ROOT);
            if (k.equals("burst")) continue;
            Limit l = switch (k) {
                case "bps" -> Limit.TOTAL_BYTES;
                case "bps_rd" -> Limit.READ_BYTES;
                case "bps_wr" -> Limit.WRITE_BYTES;
                case "iops" -> Limit.TOTAL_OPS;
                case "iops_rd" -> Limit.READ_OPS;
                case "iops_wr" -> Limit.WRITE_OPS;
                default -> throw new IllegalArgumentException("throttle option '" + k + "': expected bps, bps_rd, bps_wr, iops, iops_rd, iops_wr or burst");
            };
            setLimit(l, parseAmount(kv[1], k.startsWith("bps") ? 1024 : 1000), burst);
        }
    }

    private static long parseAmount(String s, long unit) {
        s = s.trim();
        long mul = 1;
        char c = s.isEmpty() ? ' ' : Character.toUpperCase(s.charAt(s.length() - 1));
        if (c == 'K') mul = unit;
        else if (c == 'M') mul = unit * unit;
        else if (c == 'G') mul = unit * unit * unit;
        if (mul != 1) s = s.substring(0, s.length() - 1);
        try {
            return Math.multiplyExact(Long.parseLong(s), mul);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("throttle limit '" + s + "' is not a number");
        }
    }

    @Override
    public synchronized String toString() {
        StringBuilder sb = new StringBuilder("throttle ").append(name);
        for (Limit l : Limit.values()) {
            TokenBucket b = buckets[l.ordinal()];
            if (!b.unlimited()) sb.append(' ').append(l.name().toLowerCase(Locale.ROOT)).append('=').append(b.ratePerSecond())
                    .append("/s burst ").append(b.burstSeconds()).append('s');
        }
        return sb.toString();
    }
}
