package dev.vmm.migration;

import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * A token bucket for {@code max-bandwidth}: bytes may go out in bursts of up to 100 ms worth of
 * the rate, and the sender sleeps off any debt. The rate is re-read on every call, so a
 * {@code migrate-set-parameters} takes effect at once; 0 means unlimited.
 */
final class RateLimiter {
    private final LongSupplier bytesPerSecond;
    private final BooleanSupplier aborted;
    private long tokens;
    private long lastNanos = System.nanoTime();

    RateLimiter(LongSupplier bytesPerSecond, BooleanSupplier aborted) {
        this.bytesPerSecond = bytesPerSecond;
        this.aborted = aborted;
    }

    /** Takes {@code n} bytes' worth of tokens, sleeping while the bucket is in debt. */
    void acquire(long n) {
        long rate = bytesPerSecond.getAsLong();
        long now = System.nanoTime();
        if (rate <= 0) {
            lastNanos = now;
            tokens = 0;
            return;
        }
        long burst = Math.max(64 * 1024, rate / 10);
        tokens = Math.min(burst, tokens + refill(now - lastNanos, rate));
        lastNanos = now;
        tokens -= n;
        while (tokens < 0 && !aborted.getAsBoolean()) {
            long waitNanos = (long) (-tokens * 1e9 / rate);
            LockSupport.parkNanos(Math.min(waitNanos, 50_000_000L)); // wake up to notice a cancel
            now = System.nanoTime();
            tokens = Math.min(burst, tokens + refill(now - lastNanos, rate));
            lastNanos = now;
        }
    }

    private static long refill(long nanos, long rate) {
        return (long) (nanos * (rate / 1e9));
    }
}
