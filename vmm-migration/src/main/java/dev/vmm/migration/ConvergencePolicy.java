package dev.vmm.migration;

/**
 * The source's decision after each live round: send another round, send another round with the
 * vCPUs throttled harder (auto-converge), or stop the VM and copy the rest. Pure: what it decides
 * depends only on its arguments — no clock, no I/O — so every rule is unit-tested on its own.
 *
 * <p>The rules, with QEMU 7.2's parameter names:
 * <ul>
 *   <li><b>Stop and copy</b> when nothing remains dirty, or when the remaining dirty bytes could be
 *       sent within {@code downtime-limit} at the bandwidth measured in the round (end to end).</li>
 *   <li><b>Auto-converge</b> (capability {@code auto-converge}): a round is "high" when the guest
 *       dirtied more than {@code throttle-trigger-threshold}% of the bytes sent in it. Every second
 *       high round (counted, as QEMU, not necessarily in a row) starts throttling at
 *       {@code cpu-throttle-initial}, or raises it by {@code cpu-throttle-increment}, never past
 *       {@code max-cpu-throttle} ({@link MigrationParameters}, as QEMU's, never lets the initial value
 *       exceed the max; given such settings anyway, the policy applies the initial value as QEMU's
 *       code does and clamps from the next raise on).</li>
 *   <li>{@code cpu-throttle-tailslow}: the raise is the smaller of {@code cpu-throttle-increment}
 *       and the one that would bring the guest's CPU share down to the "ideal" share, the one at
 *       which the dirty rate would just meet the threshold (assuming the dirty rate is
 *       proportional to the CPU the guest gets): with CPU share {@code c = 100 - throttle}, the
 *       ideal is {@code c × thresholdBytes / dirtiedBytes}. Near the end the step is then small,
 *       where a full increment would over-throttle.</li>
 * </ul>
 * One difference from QEMU: QEMU looks at the throttle rule at most once per second of syncs,
 * summing what the syncs of that second found; here a period is one round (each round ends with
 * the destination's acknowledgement, so it is never shorter than a network round trip).
 */
public final class ConvergencePolicy {
    private ConvergencePolicy() { }

    /**
     * What one live round measured.
     *
     * @param dirtiedBytes   bytes the guest dirtied during the round (the sync that ended it)
     * @param sentBytes      wire bytes of the round (pages, records, checksums)
     * @param nanos          the round's duration, up to the destination's acknowledgement
     * @param remainingBytes dirty bytes still to send (here: the same as {@code dirtiedBytes},
     *                       since every round sends all that was dirty)
     */
    public record Round(long dirtiedBytes, long sentBytes, long nanos, long remainingBytes) {
        public Round {
            if (dirtiedBytes < 0 || sentBytes < 0 || nanos <= 0 || remainingBytes < 0) {
                throw new IllegalArgumentException("round figures must be >= 0 (duration > 0): " + dirtiedBytes
                        + " dirtied, " + sentBytes + " sent, " + nanos + " ns, " + remainingBytes + " remaining");
            }
        }

        /** Bytes per millisecond measured end to end (0 when nothing was sent). */
        public double bandwidthBytesPerMs() { return sentBytes * 1e6 / nanos; }

        /** Bytes the guest dirtied per second. */
        public double dirtyBytesPerSecond() { return dirtiedBytes * 1e9 / nanos; }
    }

    /**
     * The parameters that matter to the decision. {@code max-bandwidth} is not among them: it acts
     * through the measurement (the live rounds are rate-limited to it), as in QEMU.
     */
    public record Settings(long downtimeLimitMs, boolean autoConverge, int throttleInitial, int throttleIncrement,
                           boolean throttleTailslow, int maxThrottle, int triggerThreshold) {
        /** The current values (QMP may change them between rounds; a migration copied its capabilities). */
        public static Settings of(MigrationParameters p, MigrationCapabilities c) {
            return new Settings(p.downtimeLimitMs(), c.autoConverge(), p.cpuThrottleInitial(), p.cpuThrottleIncrement(),
                    p.cpuThrottleTailslow(), p.maxCpuThrottle(), p.throttleTriggerThreshold());
        }
    }

    /**
     * What the policy carries from round to round.
     *
     * @param throttlePercent the throttle in force (0 = none)
     * @param highRounds      high-dirty rounds counted since the last throttle change
     */
    public record State(int throttlePercent, int highRounds) {
        public static final State INITIAL = new State(0, 0);
    }

    public enum Action {
        /** Send another round. */
        CONTINUE,
        /** Send another round with the vCPUs throttled to {@link Decision#throttlePercent()}. */
        THROTTLE,
        /** Pause the VM and send the rest. */
        STOP_AND_COPY
    }

    /**
     * @param expectedDowntimeMs the remaining bytes at the measured bandwidth ({@link Long#MAX_VALUE}
     *                           if nothing was sent)
     * @param next               the state for the next round's decision
     */
    public record Decision(Action action, int throttlePercent, long expectedDowntimeMs, State next) { }

    public static Decision decide(Round round, Settings s, State state) {
        double bytesPerMs = round.bandwidthBytesPerMs();
        long expected = bytesPerMs <= 0 ? Long.MAX_VALUE : (long) Math.ceil(round.remainingBytes() / bytesPerMs);
        if (round.remainingBytes() == 0 || expected <= s.downtimeLimitMs()) {
            return new Decision(Action.STOP_AND_COPY, state.throttlePercent(), expected, state);
        }
        if (!s.autoConverge() || !dirtiesTooFast(round, s)) {
            return new Decision(Action.CONTINUE, state.throttlePercent(), expected, state);
        }
        if (state.highRounds() + 1 < 2) {
            return new Decision(Action.CONTINUE, state.throttlePercent(), expected, new State(state.throttlePercent(), 1));
        }
        int next = state.throttlePercent() == 0 ? s.throttleInitial()
                : Math.min(s.maxThrottle(), state.throttlePercent() + increment(round, s, state.throttlePercent()));
        return new Decision(Action.THROTTLE, next, expected, new State(next, 0));
    }

    /** The guest dirtied more than {@code throttle-trigger-threshold}% of what the round sent. */
    private static boolean dirtiesTooFast(Round round, Settings s) {
        return round.dirtiedBytes() > thresholdBytes(round, s);
    }

    /** {@code throttle-trigger-threshold}% of the round's bytes (a long: 92 PB in one round before it overflows). */
    private static long thresholdBytes(Round round, Settings s) {
        return round.sentBytes() * s.triggerThreshold() / 100;
    }

    /** The raise of an active throttle; with tailslow, no more than what reaches the ideal CPU share. */
    private static int increment(Round round, Settings s, int throttle) {
        if (!s.throttleTailslow()) return s.throttleIncrement();
        int cpuNow = 100 - throttle;
        // dirtiedBytes > thresholdBytes here, so the ideal share is below the current one and the step >= 1.
        long cpuIdeal = (long) (cpuNow * ((double) thresholdBytes(round, s) / round.dirtiedBytes()));
        return (int) Math.min(cpuNow - cpuIdeal, s.throttleIncrement());
    }
}
