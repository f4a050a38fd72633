package dev.vmm.virtio.testing;

import dev.vmm.virtio.rng.Scheduler;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Scheduler} whose tasks run only when the test says so ({@link #runAll()}), so timer-driven
 * device behaviour (rate-limit refills, balloon statistics polls) is tested without waiting.
 */
public final class ManualScheduler implements Scheduler {
    /** Tasks scheduled and neither run nor cancelled yet. */
    public final List<Runnable> tasks = new ArrayList<>();
    /** The delay of every schedule call, in order. */
    public final List<Long> delays = new ArrayList<>();
    /** Cancels of a task still pending. */
    public int cancelled;

    @Override
    public Runnable schedule(Runnable task, long delayNanos) {
        tasks.add(task);
        delays.add(delayNanos);
        return () -> { if (tasks.remove(task)) cancelled++; };
    }

    /** Runs the tasks pending now (tasks they schedule wait for the next call). */
    public void runAll() {
        List<Runnable> copy = new ArrayList<>(tasks);
        tasks.clear();
        copy.forEach(Runnable::run);
    }
}
