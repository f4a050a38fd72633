package dev.vmm.virtio.blk;

import org.junit.jupiter.api.Test;

import static dev.vmm.virtio.blk.ThrottleGroup.Limit.*;
import static org.junit.jupiter.api.Assertions.*;

/** Token-bucket arithmetic against an injectable clock: no wall time involved. */
class ThrottleGroupTest {
    static final long SEC = 1_000_000_000L;

    static final class FakeClock {
        long now = 1_000 * SEC;
    }

    /** Issues requests for {@code seconds} of simulated time, sleeping (on the fake clock) as told; returns units done. */
    static long[] run(ThrottleGroup g, FakeClock c, double seconds, boolean write, long bytes) {
        long end = c.now + (long) (seconds * SEC);
        long ops = 0, total = 0;
        while (c.now < end) {
            long w = g.reserve(write, bytes);
            if (w > 0) {
                c.now += w;
            } else {
                ops++;
                total += bytes;
            }
        }
        return new long[] {ops, total};
    }

    @Test
    void bytesPerSecondWithinTenPercent() {
        FakeClock c = new FakeClock();
        ThrottleGroup g = new ThrottleGroup("g", () -> c.now);
        g.setLimit(TOTAL_BYTES, 10L << 20, 0.1);
        long[] r = run(g, c, 10, false, 64 << 10);
        double rate = r[1] / 10.0;
        assertEquals(10L << 20, rate, (10L << 20) * 0.10, "bytes/s " + rate);
    }

    @Test
    void iopsWithinTenPercentAndBurstAllowsAnInitialSpike() {
        FakeClock c = new FakeClock();
        ThrottleGroup g = new ThrottleGroup("g", () -> c.now);
        g.setLimit(TOTAL_OPS, 200, 2.0); // 400-op bucket
        // Without the clock moving, exactly the burst goes through at once.
        int burst = 0;
        while (g.reserve(true, 4096) == 0) burst++;
        assertEquals(400, burst);
        long[] r = run(g, c, 20, true, 4096);
        assertEquals(200 * 20, r[0], 200 * 20 * 0.10, "ops in 20 s");
        assertTrue(g.throttledCount() > 0);
    }

    @Test
    void perDirectionLimitsAreSeparate() {
        FakeClock c = new FakeClock();
        ThrottleGroup g = new ThrottleGroup("g", () -> c.now);
        g.setLimit(READ_BYTES, 1L << 20, 0.05);
        g.setLimit(WRITE_OPS, 100, 0.05);
        long[] reads = run(g, c, 10, false, 4096);
        assertEquals(1L << 20, reads[1] / 10.0, (1L << 20) * 0.1);
        long[] writes = run(g, c, 10, true, 1 << 20); // write bytes unlimited: 100 ops/s of 1 MiB
        assertEquals(100 * 10, writes[0], 100);
    }

    @Test
    void requestLargerThanTheBucketStillGoesAndTheDebtSlowsTheNext() {
        FakeClock c = new FakeClock();
        ThrottleGroup g = new ThrottleGroup("g", () -> c.now);
        g.setLimit(TOTAL_BYTES, 1000, 1.0);
        assertEquals(0, g.reserve(false, 5000)); // bucket full (1000): 5000-byte request goes, level -4000
        long w = g.reserve(false, 1000);
        assertEquals(5 * SEC, w, SEC / 1000, "needs 4000 debt + 1000 back at 1000/s");
        c.now += w;
        assertEquals(0, g.reserve(false, 1000));
    }

    @Test
    void limitsChangeAtRunTime() {
        FakeClock c = new FakeClock();
        ThrottleGroup g = new ThrottleGroup("g", () -> c.now);
        assertFalse(g.enabled());
        assertEquals(0, g.reserve(false, 1 << 30));
        g.setLimit(TOTAL_OPS, 100, 0.1);
        assertTrue(g.enabled());
        long[] slow = run(g, c, 5, false, 512);
        g.setLimit(TOTAL_OPS, 1000, 0.1);
        long[] fast = run(g, c, 5, false, 512);
        assertEquals(500, slow[0], 50);
        assertEquals(5000, fast[0], 500);
        g.setLimit(TOTAL_OPS, 0, 1);
        assertFalse(g.enabled());
        assertEquals(0, g.reserve(false, 512));
    }

    @Test
    void parsesSpecs() {
        ThrottleGroup g = new ThrottleGroup("g");
        g.configure("bps=10M,iops=500,bps_wr=1k,iops_rd=2k,burst=2");
        assertEquals(10L << 20, g.limit(TOTAL_BYTES));
        assertEquals(500, g.limit(TOTAL_OPS));
        assertEquals(1024, g.limit(WRITE_BYTES));
        assertEquals(2000, g.limit(READ_OPS));
        assertTrue(g.toString().contains("burst 2.0s"), g.toString());
        assertThrows(IllegalArgumentException.class, () -> g.configure("bogus=1"));
        assertThrows(IllegalArgumentException.class, () -> g.configure("bps=x"));
        assertThrows(IllegalArgumentException.class, () -> g.setLimit(TOTAL_OPS, -1, 1));
    }

    @Test
    void activeFollowsTheLimitsSoUnlimitedDisksSkipTheLock() {
        ThrottleGroup g = new ThrottleGroup("g");
        assertFalse(g.active());
        g.setLimit(READ_OPS, 100);
        assertTrue(g.active());
        g.setLimit(TOTAL_BYTES, 1 << 20);
        g.setLimit(READ_OPS, 0);
        assertTrue(g.active(), "bytes limit still set");
        g.setLimit(TOTAL_BYTES, 0);
        assertFalse(g.active());
    }
}
