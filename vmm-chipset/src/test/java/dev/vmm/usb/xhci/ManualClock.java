package dev.vmm.usb.xhci;

import java.util.ArrayList;
import java.util.List;

/** A clock the test moves; scheduled tasks run when it passes their time. */
final class ManualClock implements XhciClock {
    private record Task(long at, Runnable run) { }

    private long now = 1_000_000_000L;
    private final List<Task> tasks = new ArrayList<>();

    @Override public synchronized long nanoTime() { return now; }

    @Override public synchronized void schedule(long delayNanos, Runnable task) {
        tasks.add(new Task(now + delayNanos, task));
    }

    synchronized int scheduled() { return tasks.size(); }

    void advance(long nanos) {
        List<Task> due = new ArrayList<>();
        synchronized (this) {
            now += nanos;
            tasks.removeIf(t -> {
                if (t.at - now <= 0) {
                    due.add(t);
                    return true;
                }
                return false;
            });
        }
        due.forEach(t -> t.run.run());
    }
}
