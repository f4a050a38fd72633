package dev.vmm.virtio.blk;

/**
 * A token bucket: fills at {@code rate} units per second up to {@code capacity = rate × burst
 * seconds}, starts full. A request of {@code n} units may go when the bucket holds
 * {@code min(n, capacity)} units — so a request larger than the bucket is not starved — and then
 * takes all {@code n} (the level may go negative, which delays the next requests: over time the
 * rate is exact). Not thread-safe: {@link ThrottleGroup} guards it. Rate 0 means unlimited.
 */
final class TokenBucket {
    private double rate;
    private double capacity;
    private double level;
    private long last;

    TokenBucket(long now) {
        this.last = now;
    }

    boolean unlimited() { return rate <= 0; }

    long rate() { return (long) rate; }

    double burstSeconds() { return rate <= 0 ? 0 : capacity / rate; }

    double level() { return level; }

    /** Changes the limit; the level is clamped to the new capacity (a new limit starts full). */
    void configure(long perSecond, double burstSeconds, long now) {
        refill(now);
        boolean wasUnlimited = unlimited();
        rate = Math.max(0, perSecond);
        capacity = rate * Math.max(burstSeconds, 1e-3);
        level = wasUnlimited ? capacity : Math.min(level, capacity);
    }

    void refill(long now) {
        long dt = now - last;
        last = now;
        if (rate <= 0 || dt <= 0) return;
        level = Math.min(capacity, level + rate * dt / 1e9);
    }

    /** Nanoseconds until a request of {@code n} units could go (0: now). Call {@link #refill} first. */
    long waitNanos(long n) {
        if (rate <= 0) return 0;
        double need = Math.min(n, capacity);
        if (level >= need) return 0;
        return Math.max(1, (long) Math.ceil((need - level) * 1e9 / rate));
    }

    void take(long n) {
        if (rate > 0) level -= n;
    }
}
