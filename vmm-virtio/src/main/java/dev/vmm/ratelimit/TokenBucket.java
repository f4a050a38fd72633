package dev.vmm.ratelimit;

/**
 * The one token bucket of the VMM: disk throttling ({@code dev.vmm.virtio.blk.ThrottleGroup}),
 * the entropy rate limit of virtio-rng and migration's {@code max-bandwidth} all use it.
 *
 * <p>It fills at {@code amount} tokens per {@code periodNanos} up to {@code capacity}. Time is
 * passed in by the caller (nanoseconds of a monotonic clock), so tests drive it with a fake clock.
 * A new limit on an unlimited bucket starts full. Two ways to spend:
 * <ul>
 *   <li>{@link #take(long)} takes all it is asked, and the level may go negative: the debt delays
 *       the next requests, so over time the rate is exact even for requests larger than the bucket
 *       (disk throttling, migration). {@link #waitNanos(long)} says when a request may go: once the
 *       bucket holds {@code min(n, capacity)} — a request larger than the bucket is not starved.</li>
 *   <li>{@link #takeUpTo(long)} takes only whole tokens that are there (entropy: a partial grant
 *       is a shorter answer).</li>
 * </ul>
 * An amount of 0 (or less) means unlimited: every request may go now and nothing is counted.
 * Not thread-safe: the owner guards it.
 */
public final class TokenBucket {
    private double amount;
    private long periodNanos = 1_000_000_000L;
    private double capacity;
    private double level;
    private long last;

    /** An unlimited bucket; {@code now} starts its clock. */
    public TokenBucket(long now) {
        this.last = now;
    }

    /** A full bucket of {@code capacity} tokens that refills completely in {@code periodNanos}. */
    public static TokenBucket ofBurst(long capacity, long periodNanos, long now) {
        if (capacity <= 0) throw new IllegalArgumentException("bucket capacity must be positive: " + capacity);
        if (periodNanos <= 0) throw new IllegalArgumentException("refill period must be positive: " + periodNanos);
        TokenBucket b = new TokenBucket(now);
        b.setLimit(capacity, periodNanos, capacity, now);
        return b;
    }

    /**
     * Changes the limit to {@code amount} tokens per {@code periodNanos}, holding at most
     * {@code capacity}. The bucket is refilled at the old rate up to {@code now} first; the level
     * is then clamped to the new capacity, or set to it if the bucket was unlimited.
     */
    public void setLimit(double amount, long periodNanos, double capacity, long now) {
        if (periodNanos <= 0) throw new IllegalArgumentException("refill period must be positive: " + periodNanos);
        refill(now);
        boolean wasUnlimited = unlimited();
        this.amount = Math.max(0, amount);
        this.periodNanos = periodNanos;
        this.capacity = capacity;
        level = wasUnlimited ? capacity : Math.min(level, capacity);
    }

    /** {@code perSecond} tokens per second, bursts of {@code burstSeconds} (at least 1 ms); 0 = unlimited. */
    public void setRate(long perSecond, double burstSeconds, long now) {
        double rate = Math.max(0, perSecond);
        setLimit(rate, 1_000_000_000L, rate * Math.max(burstSeconds, 1e-3), now);
    }

    public boolean unlimited() { return amount <= 0; }

    /** Tokens per second (truncated). */
    public long ratePerSecond() { return (long) (amount * 1e9 / periodNanos); }

    /** Tokens added per period. */
    public long amountPerPeriod() { return (long) amount; }

    public long periodNanos() { return periodNanos; }

    public double capacity() { return capacity; }

    /** How long a full bucket lasts at the rate, in seconds (0 when unlimited). */
    public double burstSeconds() { return unlimited() ? 0 : capacity * periodNanos / amount / 1e9; }

    public double level() { return level; }

    /** Empties the bucket (its debt, if any, stays). */
    public void empty() { level = Math.min(level, 0); }

    /** Adds what flowed in since the last call. A clock that went backwards adds nothing. */
    public void refill(long now) {
        long dt = now - last;
        if (dt <= 0) return;
        last = now;
        if (unlimited()) return;
        // A whole period refills a bucket of one period's worth exactly (no rounding below capacity).
        if (dt >= periodNanos && level >= 0 && capacity <= amount) {
            level = capacity;
        } else {
            level = Math.min(capacity, level + amount * dt / periodNanos);
        }
    }

    /** Nanoseconds until a request of {@code n} tokens could go (0: now). Call {@link #refill} first. */
    public long waitNanos(long n) {
        if (unlimited()) return 0;
        double need = Math.min(n, capacity);
        if (level >= need) return 0;
        return Math.max(1, (long) Math.ceil((need - level) * periodNanos / amount));
    }

    /** Takes {@code n} tokens, going into debt if the bucket holds fewer. */
    public void take(long n) {
        if (!unlimited()) level -= n;
    }

    /** Takes up to {@code want} whole tokens that are there (none if {@code want <= 0}); returns how many. Call {@link #refill} first. */
    public long takeUpTo(long want) {
        if (want <= 0) return 0;
        if (unlimited()) return want;
        long n = Math.max(0, Math.min(want, (long) Math.floor(level)));
        level -= n;
        return n;
    }
}
