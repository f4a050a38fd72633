package dev.vmm.ratelimit;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The one token bucket, in both ways of spending, on a fake clock. */
class TokenBucketTest {
    private static final long SEC = 1_000_000_000L;

    @Test
    void unlimitedLetsEverythingGoAndCountsNothing() {
        TokenBucket b = new TokenBucket(0);
        assertTrue(b.unlimited());
        assertEquals(0, b.waitNanos(Long.MAX_VALUE));
        b.take(1 << 30);
        assertEquals(0, b.level());
        assertEquals(123, b.takeUpTo(123));
    }

    @Test
    void debtDelaysTheNextRequestSoTheRateHoldsOverTime() {
        TokenBucket b = new TokenBucket(0);
        b.setRate(1000, 1.0, 0);                       // 1000/s, bucket of 1000, starts full
        assertEquals(1000, b.level());
        assertEquals(0, b.waitNanos(5000));            // larger than the bucket: may go once it is full
        b.take(5000);                                  // ...and leaves a debt of 4000
        assertEquals(-4000, b.level());
        assertEquals(5 * SEC, b.waitNanos(1000));      // 5000 tokens to earn back at 1000/s
        b.refill(5 * SEC);
        assertEquals(1000, b.level());
        assertEquals(0, b.waitNanos(1000));
    }

    @Test
    void aNewLimitOnAnUnlimitedBucketStartsFullAndALowerOneClampsTheLevel() {
        TokenBucket b = new TokenBucket(0);
        b.setRate(100, 2.0, 0);
        assertEquals(200, b.level());
        assertEquals(100, b.ratePerSecond());
        assertEquals(2.0, b.burstSeconds(), 1e-9);
        b.setRate(10, 1.0, 0);
        assertEquals(10, b.level());
        b.setRate(0, 1.0, 0);
        assertTrue(b.unlimited());
    }

    @Test
    void wholeTokensOnlyAndAFullPeriodRefillsExactly() {
        TokenBucket b = TokenBucket.ofBurst(3, 3 * SEC, 0); // 1 token per second
        assertEquals(3, b.takeUpTo(10));
        assertEquals(0, b.takeUpTo(1));
        assertEquals(0, b.level());                     // never below zero this way
        b.refill(SEC / 2);
        assertEquals(0, b.takeUpTo(1));                 // half a token is not one
        assertEquals(SEC / 2, b.waitNanos(1));
        b.refill(100 * SEC);
        assertEquals(3, b.level());
    }

    @Test
    void aClockGoingBackwardsAddsNothing() {
        TokenBucket b = new TokenBucket(10 * SEC);
        b.setRate(1000, 1.0, 10 * SEC);
        b.take(1000);
        b.refill(5 * SEC);
        assertEquals(0, b.level());
        b.refill(10 * SEC + SEC / 2);                   // half a second after the last real reading
        assertEquals(500, b.level(), 1e-6);
    }

    @Test
    void badArgumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> TokenBucket.ofBurst(0, SEC, 0));
        assertThrows(IllegalArgumentException.class, () -> TokenBucket.ofBurst(1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new TokenBucket(0).setLimit(1, 0, 1, 0));
    }
}
