package dev.vmm.virtio.rng;

import java.util.function.LongSupplier;

/**
 * A token bucket of {@code capacity} bytes refilled linearly at {@code capacity} bytes per
 * {@code periodNanos} (so a full bucket takes one period to refill), starting full: bursts up to
 * the capacity, sustained rate capacity/period. Time comes from an injectable nanosecond clock.
 * Not thread-safe (the rng device calls it under its lock).
 */
public final class TokenBucket {
    private final long capacity;
    private final long periodNanos;
    private final LongSupplier clock;
    private double tokens;
    private long last;

    public TokenBucket(long capacity, long periodNanos, LongSupplier clock) {
        if (capacity <= 0) throw new IllegalArgumentException("bucket capacity must be positive: " + capacity);
        if (periodNanos <= 0) throw new IllegalArgumentException("refill period must be positive: " + periodNanos);
        this.capacity = capacity;
        this.periodNanos = periodNanos;
        this.clock = clock;
        this.tokens = capacity;
        this.last = clock.getAsLong();
    }

    public long capacity() { return capacity; }

    public long periodNanos() { return periodNanos; }

    /** Whole tokens available now. */
    public long available() {
        refill();
        return (long) Math.floor(tokens);
    }

    /** Takes up to {@code want} tokens (none if {@code want <= 0}); returns how many were taken. */
    public long take(long want) {
        if (want <= 0) return 0;
        refill();
        long n = Math.min(want, (long) Math.floor(tokens));
        tokens -= n;
        return n;
    }

    /** Nanoseconds until at least {@code count} (clamped to the capacity) whole tokens are available; 0 if they are now. */
    public long nanosUntil(long count) {
        refill();
        double missing = Math.min(Math.max(count, 1), capacity) - tokens;
        if (missing <= 0) return 0;
        return (long) Math.ceil(missing * periodNanos / capacity);
    }

    private void refill() {
        long now = clock.getAsLong();
        long elapsed = now - last;
        if (elapsed <= 0) return;
        last = now;
        tokens = elapsed >= periodNanos ? capacity : Math.min(capacity, tokens + (double) elapsed * capacity / periodNanos);
    }
}
