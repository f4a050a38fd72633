package dev.vmm.virtio.console;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Runs one task on behalf of many threads, never concurrently and never lost, without a thread of
 * its own ("flat combining"): {@link #request()} marks work pending and, if no other thread is
 * running the task, runs it here; a thread already running it picks the request up before it
 * lets go. Callers never wait for each other's work (only {@link #exclusive} blocks). The lock is
 * the happens-before edge that lets the queues pass between the threads taking turns.
 */
final class WorkSerializer {
    private final AtomicBoolean pending = new AtomicBoolean();
    private final ReentrantLock lock = new ReentrantLock();
    private final Runnable task;

    WorkSerializer(Runnable task) {
        this.task = task;
    }

    void request() {
        pending.set(true);
        // Re-check after unlocking: a request that failed tryLock while we were finishing is ours to run.
        while (pending.get() && lock.tryLock()) {
            try {
                while (pending.getAndSet(false)) task.run();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Runs {@code action} with the task excluded (waits for a running pass), then any pending work. */
    void exclusive(Runnable action) {
        lock.lock();
        try {
            action.run();
        } finally {
            lock.unlock();
        }
        if (pending.get()) request();
    }

    boolean heldByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }
}
