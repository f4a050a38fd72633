package dev.vmm.usb.xhci;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Time for the controller: the microframe index and interrupt moderation (an interrupter may not
 * interrupt again before its IMODI interval has passed; the held-back interrupt fires from
 * {@link #schedule}). Tests pass a clock they move themselves.
 */
public interface XhciClock {
    long nanoTime();

    /** Runs {@code task} once, {@code delayNanos} from now, on some thread other than the caller's. */
    void schedule(long delayNanos, Runnable task);

    /** The host's monotonic clock, held-back interrupts fired by {@code timer}. */
    static XhciClock system(ScheduledExecutorService timer) {
        return new XhciClock() {
            @Override public long nanoTime() { return System.nanoTime(); }

            @Override public void schedule(long delayNanos, Runnable task) {
                if (!timer.isShutdown()) timer.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
            }
        };
    }
}
