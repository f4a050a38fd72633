package dev.vmm.virtio.rng;

/**
 * A device's timer task with at most one run pending on a {@link Scheduler}: arming while a run
 * is pending does nothing, cancelling forgets it. The owner calls every method holding its own
 * monitor, and its task calls {@link #fired()} (under that monitor) before anything else, so the
 * timer can be armed again from the task.
 */
public final class OneShotTimer {
    private final Scheduler scheduler;
    private final Runnable task;
    private Runnable cancel; // non-null while a run is pending

    public OneShotTimer(Scheduler scheduler, Runnable task) {
        this.scheduler = scheduler;
        this.task = task;
    }

    /** Schedules the task in {@code delayNanos}, unless a run is already pending. */
    public void arm(long delayNanos) {
        if (cancel == null) cancel = scheduler.schedule(task, delayNanos);
    }

    /** The pending run has started: the timer is idle (and may be armed again). */
    public void fired() {
        cancel = null;
    }

    /** Cancels the pending run, if any. */
    public void cancel() {
        if (cancel != null) {
            cancel.run();
            cancel = null;
        }
    }
}
