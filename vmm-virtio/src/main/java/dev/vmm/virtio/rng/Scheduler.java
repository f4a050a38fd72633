package dev.vmm.virtio.rng;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Runs a task later, on some other thread. The rng device uses it to serve a request it held back
 * because the rate limit was exhausted (the guest will not kick again for a buffer it already
 * posted). Injectable so tests drive time by hand.
 */
@FunctionalInterface
public interface Scheduler {
    /** Runs {@code task} once after {@code delayNanos}; returns an action that cancels it if not yet run. */
    Runnable schedule(Runnable task, long delayNanos);

    /** A process-wide single daemon thread; tasks must be short (they are: one bounded queue pass). */
    static Scheduler shared() {
        return Shared.INSTANCE;
    }

    /** Holder so the thread starts only when a device first needs it. */
    final class Shared implements Scheduler {
        private static final Shared INSTANCE = new Shared();
        private final ScheduledExecutorService executor;

        private Shared() {
            ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(1,
                    r -> dev.vmm.threads.VmmThreads.unstarted(dev.vmm.threads.ThreadKind.TIMER, "virtio-timer", r));
            ex.setRemoveOnCancelPolicy(true);
            executor = ex;
        }

        @Override
        public Runnable schedule(Runnable task, long delayNanos) {
            ScheduledFuture<?> f = executor.schedule(task, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
            return () -> f.cancel(false);
        }
    }
}
