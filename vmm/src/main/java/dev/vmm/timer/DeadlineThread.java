package dev.vmm.timer;

import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;

import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * The one host thread a timer model without threads of its own needs (the HPET, the RTC): it lets
 * the model catch up ({@code poll}), asks it for its next deadline, and sleeps until then — or
 * until {@link #kick()}, after any access that may have moved the deadline. With no deadline
 * ({@link Long#MAX_VALUE}) it parks until kicked. The clock is the model's, so tests drive both.
 */
final class DeadlineThread implements AutoCloseable {
    private final Runnable poll;
    private final LongSupplier nextDeadline, nowNanos;
    private final Thread thread;
    /** {@code kicked}: re-read the deadline; {@code closed}: the machine is going away. */
    private volatile boolean kicked, closed;

    /** Starts a {@link ThreadKind#TIMER} thread called {@code name}. */
    DeadlineThread(String name, Runnable poll, LongSupplier nextDeadline, LongSupplier nowNanos) {
        this.poll = poll;
        this.nextDeadline = nextDeadline;
        this.nowNanos = nowNanos;
        this.thread = VmmThreads.start(ThreadKind.TIMER, name, this::run);
    }

    /** Re-reads the deadline now. */
    void kick() {
        kicked = true;
        LockSupport.unpark(thread);
    }

    private void run() {
        while (!closed) {
            kicked = false;
            poll.run();
            long deadline = nextDeadline.getAsLong();
            while (!closed && !kicked) {
                if (deadline == Long.MAX_VALUE) {
                    LockSupport.park(this);
                } else {
                    long wait = deadline - nowNanos.getAsLong();
                    if (wait <= 0) break;
                    LockSupport.parkNanos(this, wait);
                }
            }
        }
    }

    /** Stops the thread (waits up to 5 s); the model keeps its state. */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
