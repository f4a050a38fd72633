package dev.vmm.it;

import org.junit.jupiter.api.Test;

import static dev.vmm.it.CounterMigrationTest.assertMarksContinue;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * How {@link CounterMigrationTest} reads the counter guest's marks across a switch-over: pure
 * parsing, so it runs on every host (the migration test itself needs /dev/kvm).
 */
class CounterMarksTest {
    /** The switch-over cut cases seen in CI: completed exactly, or partly printed again. */
    @Test
    void marksAcrossACutLineAreReadEitherWay() {
        String src = "counter: mark 1 total 1\ncounter: mark 2 total 2\ncounter: mark 3 t";
        String end = "counter: ok\nEXIT 0\n";
        assertMarksContinue(new CounterMigrationTest.Outcome(null, src, "otal 3\ncounter: mark 4 total 4\n" + end));
        assertMarksContinue(new CounterMigrationTest.Outcome(null, src, "rk 3 total 3\ncounter: mark 4 total 4\n" + end));
        assertMarksContinue(new CounterMigrationTest.Outcome(null, src, "vmm: incoming migration complete\nrk 3 total 3\ncounter: mark 4 total 4\n" + end));
        assertMarksContinue(new CounterMigrationTest.Outcome(null, src, "counter: mark 3 total 3\ncounter: mark 4 total 4\n" + end));
        assertThatThrownBy(() ->
                assertMarksContinue(new CounterMigrationTest.Outcome(null, src, "rk 3 total 3\ncounter: mark 5 total 5\n" + end)))
                .isInstanceOf(AssertionError.class);
    }

}
