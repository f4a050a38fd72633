package dev.vmm.virtio.rng;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** At most one pending run; fired() re-opens the timer; cancel() cancels only what is pending. */
class OneShotTimerTest {
    /** A scheduler driven by hand: records each scheduled delay and counts cancels. */
    private final List<Long> delays = new ArrayList<>();
    private final List<Runnable> tasks = new ArrayList<>();
    private final AtomicInteger cancels = new AtomicInteger();
    private final Scheduler manual = (task, delayNanos) -> {
        delays.add(delayNanos);
        tasks.add(task);
        return cancels::incrementAndGet;
    };
    private final AtomicInteger runs = new AtomicInteger();
    private OneShotTimer timer;

    @Test
    void armingWhilePendingSchedulesNothingMore() {
        timer = new OneShotTimer(manual, runs::incrementAndGet);
        timer.arm(5);
        timer.arm(7);
        assertThat(delays).containsExactly(5L);
    }

    @Test
    void afterFiredTheTaskMayArmItAgain() {
        timer = new OneShotTimer(manual, () -> {
            timer.fired();
            if (runs.incrementAndGet() < 3) timer.arm(10);
        });
        timer.arm(1);
        for (int i = 0; i < tasks.size(); i++) tasks.get(i).run();
        assertThat(runs.get()).isEqualTo(3);
        assertThat(delays).containsExactly(1L, 10L, 10L);
        assertThat(cancels.get()).isZero();
    }

    @Test
    void cancelCancelsThePendingRunOnce() {
        timer = new OneShotTimer(manual, runs::incrementAndGet);
        timer.cancel();
        assertThat(cancels.get()).as("nothing pending").isZero();
        timer.arm(3);
        timer.cancel();
        timer.cancel();
        assertThat(cancels.get()).isEqualTo(1);
        timer.arm(4);
        assertThat(delays).as("armed again after a cancel").containsExactly(3L, 4L);
    }
}
