package dev.vmm.migration;

import dev.vmm.migration.ConvergencePolicy.Action;
import dev.vmm.migration.ConvergencePolicy.Decision;
import dev.vmm.migration.ConvergencePolicy.Round;
import dev.vmm.migration.ConvergencePolicy.Settings;
import dev.vmm.migration.ConvergencePolicy.State;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The round decision on its own: a table of rounds, settings and carried state against the action,
 * throttle, expected downtime and next state; then a model guest run through the policy round
 * after round. The expected values follow the rules in {@link ConvergencePolicy}'s documentation.
 */
class ConvergencePolicyTest {
    private static final long MS = 1_000_000;

    /** QEMU's defaults with auto-converge on: limit 300 ms, initial 20, increment 10, max 99, threshold 50. */
    private static Settings defaults() {
        return new Settings(300, true, 20, 10, false, 99, 50);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            # case                                          | dirtied   | sent      | ms  | limit | auto  | init | inc | tail  | max | thr | throttle | high | action        | percent | expected   | next throttle | next high
            nothing dirty: stop even after an empty round   | 0         | 0         | 1   | 300   | true  | 20   | 10  | false | 99  | 50  | 0        | 0    | STOP_AND_COPY | 0       | MAX        | 0             | 0
            fits the limit exactly: stop                    | 300000000 | 100000000 | 100 | 300   | true  | 20   | 10  | false | 99  | 50  | 0        | 0    | STOP_AND_COPY | 0       | 300        | 0             | 0
            one byte over the limit: go on                  | 300000001 | 100000000 | 100 | 300   | false | 20   | 10  | false | 99  | 50  | 0        | 0    | CONTINUE      | 0       | 301        | 0             | 0
            limit 0: any dirty byte goes on                 | 1         | 100000000 | 100 | 0     | false | 20   | 10  | false | 99  | 50  | 0        | 0    | CONTINUE      | 0       | 1          | 0             | 0
            nothing sent: bandwidth unknown, go on          | 4096      | 0         | 1   | 300   | false | 20   | 10  | false | 99  | 50  | 0        | 0    | CONTINUE      | 0       | MAX        | 0             | 0
            stop wins over a high round                     | 6000      | 10000     | 1   | 300   | true  | 20   | 10  | false | 99  | 50  | 30       | 1    | STOP_AND_COPY | 30      | 1          | 30            | 1
            dirtied exactly the threshold: not high         | 500000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 0        | 1    | CONTINUE      | 0       | 1          | 0             | 1
            one byte over the threshold: first high round   | 500001    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 0        | 0    | CONTINUE      | 0       | 1          | 0             | 1
            second high round starts at initial             | 500001    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 0        | 1    | THROTTLE      | 20      | 1          | 20            | 0
            second high round adds the increment            | 500001    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 20       | 1    | THROTTLE      | 30      | 1          | 30            | 0
            a low round keeps the count (QEMU)              | 100000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 20       | 1    | CONTINUE      | 20      | 1          | 20            | 1
            without auto-converge: never throttles          | 900000    | 1000000   | 1   | 0     | false | 20   | 10  | false | 99  | 50  | 0        | 1    | CONTINUE      | 0       | 1          | 0             | 1
            clamped to max-cpu-throttle                     | 900000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 95       | 1    | THROTTLE      | 99      | 1          | 99            | 0
            at max it stays at max                          | 900000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 99       | 1    | THROTTLE      | 99      | 1          | 99            | 0
            a lower max clamps                              | 900000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 50  | 50  | 45       | 1    | THROTTLE      | 50      | 1          | 50            | 0
            initial above max is applied as given (QEMU)    | 900000    | 1000000   | 1   | 0     | true  | 60   | 10  | false | 50  | 50  | 0        | 1    | THROTTLE      | 60      | 1          | 60            | 0
            ... and the next raise clamps it down to max    | 900000    | 1000000   | 1   | 0     | true  | 60   | 10  | false | 50  | 50  | 60       | 1    | THROTTLE      | 50      | 1          | 50            | 0
            threshold 100: dirtied = sent is not high       | 1000000   | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 100 | 0        | 1    | CONTINUE      | 0       | 1          | 0             | 1
            threshold 100: one byte more is high            | 1000001   | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 100 | 0        | 1    | THROTTLE      | 20      | 2          | 20            | 0
            threshold 1: 1% of the bytes sent is not high   | 10000     | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 1   | 0        | 1    | CONTINUE      | 0       | 1          | 0             | 1
            threshold 1: one byte more is high              | 10001     | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 1   | 0        | 1    | THROTTLE      | 20      | 1          | 20            | 0
            tailslow does not change the start              | 4000000   | 1000000   | 1   | 0     | true  | 20   | 10  | true  | 99  | 50  | 0        | 1    | THROTTLE      | 20      | 4          | 20            | 0
            tailslow far over: the full increment           | 4000000   | 1000000   | 1   | 0     | true  | 20   | 10  | true  | 99  | 50  | 20       | 1    | THROTTLE      | 30      | 4          | 30            | 0
            tailslow just over: a small step                | 520000    | 1000000   | 1   | 0     | true  | 20   | 10  | true  | 99  | 50  | 20       | 1    | THROTTLE      | 24      | 1          | 24            | 0
            tailslow off, same round: the full increment    | 520000    | 1000000   | 1   | 0     | true  | 20   | 10  | false | 99  | 50  | 20       | 1    | THROTTLE      | 30      | 1          | 30            | 0
            tailslow at the tail: a step of at least 1      | 501000    | 1000000   | 1   | 0     | true  | 20   | 10  | true  | 99  | 50  | 90       | 1    | THROTTLE      | 91      | 1          | 91            | 0
            tailslow still clamped to max                   | 10000000  | 1000000   | 1   | 0     | true  | 20   | 10  | true  | 99  | 50  | 95       | 1    | THROTTLE      | 99      | 10         | 99            | 0
            """)
    void decidesFromTheTable(String name, long dirtied, long sent, long ms, long limit, boolean auto, int init, int inc,
                             boolean tail, int max, int thr, int throttle, int high, Action action, int percent,
                             String expected, int nextThrottle, int nextHigh) {
        Decision d = ConvergencePolicy.decide(new Round(dirtied, sent, ms * MS, dirtied),
                new Settings(limit, auto, init, inc, tail, max, thr), new State(throttle, high));
        assertThat(d.action()).as("action").isEqualTo(action);
        assertThat(d.throttlePercent()).as("throttle").isEqualTo(percent);
        assertThat(d.expectedDowntimeMs()).as("expected downtime")
                .isEqualTo(expected.equals("MAX") ? Long.MAX_VALUE : Long.parseLong(expected));
        assertThat(d.next()).as("next state").isEqualTo(new State(nextThrottle, nextHigh));
    }

    @Test
    void remainingBytesDecideTheStopAndDirtiedBytesTheThrottle() {
        // Little remains (fits 300 ms), although the round dirtied a lot: stop.
        assertThat(ConvergencePolicy.decide(new Round(9_000_000, 1_000_000, 10 * MS, 1000), defaults(), new State(0, 1)).action())
                .isEqualTo(Action.STOP_AND_COPY);
        // Much remains, the round dirtied little: go on, no throttle step.
        Decision d = ConvergencePolicy.decide(new Round(1000, 1_000_000, 10 * MS, 900_000_000), defaults(), new State(0, 1));
        assertThat(d.action()).isEqualTo(Action.CONTINUE);
        assertThat(d.expectedDowntimeMs()).isEqualTo(9000);
    }

    @Test
    void roundFiguresAreChecked() {
        assertThatThrownBy(() -> new Round(-1, 0, 1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Round(0, 0, 0, 0)).hasMessageContaining("0 ns");
        Round r = new Round(4096, 2_000_000, 2 * MS, 4096);
        assertThat(r.bandwidthBytesPerMs()).isEqualTo(1_000_000.0);
        assertThat(r.dirtyBytesPerSecond()).isEqualTo(2_048_000.0);
    }

    @Test
    void settingsAreTheCurrentParametersAndCapabilities() {
        MigrationParameters p = new MigrationParameters().downtimeLimitMs(40);
        p.set("cpu-throttle-initial", 30).set("cpu-throttle-increment", 5).set("max-cpu-throttle", 80)
                .set("throttle-trigger-threshold", 70).set("cpu-throttle-tailslow", true);
        assertThat(Settings.of(p, new MigrationCapabilities().autoConverge(true)))
                .isEqualTo(new Settings(40, true, 30, 5, true, 80, 70));
        assertThat(Settings.of(new MigrationParameters(), new MigrationCapabilities()))
                .isEqualTo(new Settings(300, false, 20, 10, false, 99, 50));
    }

    // ------------------------------------------------------------ a model guest, round by round

    /** What a model run did: the throttle after each round and whether (and when) it stopped. */
    private record Run(List<Integer> throttles, int stopRound) {
        boolean converged() { return stopRound >= 0; }
    }

    /**
     * A guest dirtying {@code dirtyPerSec × (1 - throttle)} bytes per second of a working set of
     * {@code workingSet} bytes, migrated at {@code bandwidth} bytes per second: each round sends
     * what was dirty, taking {@code sent / bandwidth}, and meanwhile the guest dirties again.
     */
    private static Run model(Settings s, long ram, long workingSet, double dirtyPerSec, double bandwidth, int maxRounds) {
        List<Integer> throttles = new ArrayList<>();
        State state = State.INITIAL;
        long remaining = ram;
        for (int round = 1; round <= maxRounds; round++) {
            double seconds = remaining / bandwidth;
            long dirtied = (long) Math.min(workingSet, dirtyPerSec * (100 - state.throttlePercent()) / 100 * seconds);
            Decision d = ConvergencePolicy.decide(new Round(dirtied, remaining, Math.max(1, (long) (seconds * 1e9)), dirtied), s, state);
            if (d.action() == Action.STOP_AND_COPY) return new Run(throttles, round);
            state = d.next();
            throttles.add(state.throttlePercent());
            remaining = dirtied;
        }
        return new Run(throttles, -1);
    }

    @Test
    void aGuestDirtyingTwiceTheBandwidthConvergesOnlyWithAutoConverge() {
        double bandwidth = 100e6, dirtyRate = 2 * bandwidth;
        long ram = 1L << 30, workingSet = 64L << 20;
        Settings on = defaults();
        Settings off = new Settings(300, false, 20, 10, false, 99, 50);
        Run without = model(off, ram, workingSet, dirtyRate, bandwidth, 200);
        Run with = model(on, ram, workingSet, dirtyRate, bandwidth, 200);
        assertThat(without.converged()).as("without auto-converge").isFalse();
        assertThat(without.throttles()).containsOnly(0);
        assertThat(with.converged()).as("with auto-converge").isTrue();
        assertThat(with.stopRound()).isLessThan(30);
        // The guest's dirty rate only falls below the bandwidth past 50%: the throttle got there, by 20, 30, 40...
        assertThat(with.throttles().getLast()).isGreaterThan(50);
        assertThat(with.throttles().stream().distinct().toList()).startsWith(0, 20, 30, 40, 50);
    }

    @Test
    void tailslowReachesConvergenceWithSmallerSteps() {
        // A guest just over the threshold at every throttle: the increment overshoots, tailslow does not.
        double bandwidth = 100e6;
        long ram = 1L << 30, workingSet = 512L << 20;
        Settings coarse = new Settings(300, true, 20, 30, false, 99, 50);
        Settings tail = new Settings(300, true, 20, 30, true, 99, 50);
        Run c = model(coarse, ram, workingSet, 1.6 * bandwidth, bandwidth, 500);
        Run t = model(tail, ram, workingSet, 1.6 * bandwidth, bandwidth, 500);
        assertThat(c.converged()).isTrue();
        assertThat(t.converged()).isTrue();
        List<Integer> tailSteps = steps(t.throttles());
        assertThat(steps(c.throttles())).first().isEqualTo(30);
        assertThat(tailSteps).isNotEmpty().allMatch(step -> step >= 1 && step <= 30);
        assertThat(tailSteps.stream().mapToInt(Integer::intValue).min().orElseThrow()).isLessThan(30);
        assertThat(t.throttles().getLast()).isLessThanOrEqualTo(c.throttles().getLast());
    }

    /** The raises after the first throttle (differences between successive distinct values). */
    private static List<Integer> steps(List<Integer> throttles) {
        List<Integer> distinct = throttles.stream().filter(p -> p > 0).distinct().toList();
        List<Integer> steps = new ArrayList<>();
        for (int i = 1; i < distinct.size(); i++) steps.add(distinct.get(i) - distinct.get(i - 1));
        return steps;
    }
}
