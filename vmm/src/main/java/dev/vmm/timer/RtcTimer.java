package dev.vmm.timer;

import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.threads.ThreadKind;

import java.time.Clock;
import java.time.Instant;

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
    private final DeadlineThread thread;

    /** Starts the thread, on the model's own clock. */
    public RtcTimer(CmosRtc rtc) {
        this.rtc = rtc;
        Clock clock = rtc.clock();
        this.thread = new DeadlineThread("rtc", rtc::poll, rtc::nextDeadlineNanos, () -> nanos(clock.instant()));
        rtc.onReprogram(this::kick);
    }

    /** Re-reads the deadline now (after a register access, or after a test moved the clock). */
    public void kick() {
        thread.kick();
    }

    private static long nanos(Instant t) {
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** Stops the thread (the machine is closing); the model keeps its state. */
    @Override
    public void close() {
        rtc.onReprogram(() -> { });
        thread.close();
    }
}
