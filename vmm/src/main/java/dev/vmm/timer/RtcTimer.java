package dev.vmm.timer;

import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;

import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.locks.LockSupport;

/**
 * The host timer behind the {@link CmosRtc}'s interrupts, which the model (a state machine with no
 * thread) cannot raise by itself: one {@code rtc} thread ({@link ThreadKind#TIMER}) sleeps until the
 * model's {@link CmosRtc#nextDeadlineNanos() next deadline} (a periodic tick, an update with UIE, an
 * alarm with AIE), lets it catch up ({@link CmosRtc#poll()}: flags, IRQ 8, an alarm's S3 wake), and
 * sleeps again. The model wakes the thread after every access that may move the deadline
 * ({@link CmosRtc#onReprogram}); with no interrupt enabled the thread just parks. The clock is the
 * model's, so tests drive both with a controllable clock and {@link #kick()}.
 */
public final class RtcTimer implements AutoCloseable {
    private final CmosRtc rtc;
    private final Clock clock;
    private final Thread thread;
    private volatile boolean kicked, closed;

    /** Starts the thread, on the model's own clock. */
    public RtcTimer(CmosRtc rtc) {
        this.rtc = rtc;
        this.clock = rtc.clock();
        this.thread = VmmThreads.start(ThreadKind.TIMER, "rtc", this::run);
        rtc.onReprogram(this::kick);
    }

    /** Re-reads the deadline now (after a register access, or after a test moved the clock). */
    public void kick() {
        kicked = true;
        LockSupport.unpark(thread);
    }

    private long nowNanos() {
        Instant t = clock.instant();
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    private void run() {
        while (!closed) {
            kicked = false;
            rtc.poll();
            long deadline = rtc.nextDeadlineNanos();
            while (!closed && !kicked) {
                long wait = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - nowNanos();
                if (wait <= 0) break;
                if (wait == Long.MAX_VALUE) LockSupport.park(this);
                else LockSupport.parkNanos(this, wait);
            }
        }
    }

    /** Stops the thread (the machine is closing); the model keeps its state. */
    @Override
    public void close() {
        closed = true;
        rtc.onReprogram(() -> { });
        LockSupport.unpark(thread);
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
