package dev.vmm.migration;

import dev.vmm.ratelimit.TokenBucket;

import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * {@code max-bandwidth} for the sending thread: a {@link TokenBucket} with bursts of up to 100 ms
 * worth of the rate (at least 64 KiB), and the sender sleeps off any debt. The rate is re-read on
 * every call, so a {@code migrate-set-parameters} takes effect at once; 0 means unlimited. A new
 * limit starts with an empty bucket (the first burst is earned, not given).
 */
final class RateLimiter {
    private final LongSupplier bytesPerSecond;
    private final BooleanSupplier aborted;
    private final TokenBucket bucket = new TokenBucket(System.nanoTime());
    private long rate;

    RateLimiter(LongSupplier bytesPerSecond, BooleanSupplier aborted) {
        this.bytesPerSecond = bytesPerSecond;
        this.aborted = aborted;
    }

    /** Takes {@code n} bytes' worth of tokens, sleeping while the bucket is in debt. */
    void acquire(long n) {
        long r = bytesPerSecond.getAsLong();
        long now = System.nanoTime();
        if (r != rate) {
            boolean wasUnlimited = rate <= 0;
            rate = r;
            bucket.setLimit(Math.max(0, r), 1_000_000_000L, Math.max(64 * 1024, r / 10), now);
            if (wasUnlimited) bucket.empty();
        }
        if (r <= 0) return;
        bucket.refill(now);
        bucket.take(n);
        while (bucket.level() < 0 && !aborted.getAsBoolean()) {
            long waitNanos = bucket.waitNanos(0);
            LockSupport.parkNanos(Math.min(waitNanos, 50_000_000L)); // wake up to notice a cancel
            bucket.refill(System.nanoTime());
        }
    }
}
