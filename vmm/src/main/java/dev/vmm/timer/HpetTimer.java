package dev.vmm.timer;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.timer.Hpet;
import dev.vmm.threads.ThreadKind;

import java.util.function.LongSupplier;

/**
 * The host timer behind the {@link Hpet} model, which has no thread of its own: one {@code hpet}
 * thread ({@link ThreadKind#TIMER}) sleeps until the model's next deadline, then lets it fire
 * ({@link Hpet#poll()}: comparator matches become interrupt pulses or levels on the machine's lines)
 * and sleeps again. A guest register write can move the deadline, so the bus sees the model through
 * {@link #registers()}, which wakes the thread after every write. The clock is the one the model
 * uses, so tests drive both with a controllable clock and {@link #kick()}.
 */
public final class HpetTimer implements AutoCloseable {
    private final Hpet hpet;
    private final DeadlineThread thread;

    private final java.util.function.Consumer<Boolean> legacyRouting;

    /** Starts the thread; {@code clock} must be the model's (nanoseconds). */
    public HpetTimer(Hpet hpet, LongSupplier clock) {
        this(hpet, clock, on -> { });
    }

    /**
     * As {@link #HpetTimer(Hpet, LongSupplier)}; {@code legacyRouting} hears each guest change of
     * LEG_RT_CNF (on the thread of the register write), to stop and restart the PIT's IRQ 0.
     */
    public HpetTimer(Hpet hpet, LongSupplier clock, java.util.function.Consumer<Boolean> legacyRouting) {
        this.legacyRouting = legacyRouting;
        this.hpet = hpet;
        this.thread = new DeadlineThread("hpet", hpet::poll, hpet::nextDeadlineNanos, clock);
    }

    /** The model as the MMIO bus should see it: every write re-arms the timer. */
    public BusDevice registers() {
        return new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return hpet.read(offset, size);
            }

            @Override
            public void write(long offset, int size, long value) {
                boolean before = legacy();
                hpet.write(offset, size, value);
                kick();
                boolean after = legacy();
                if (after != before) legacyRouting.accept(after);
            }
        };
    }

    private boolean legacy() {
        return (hpet.read(Hpet.CONFIG, 4) & Hpet.CFG_LEGACY) != 0;
    }

    /**
     * The device reset of an S3 wake ({@link Hpet#reset}): the thread re-reads the (now absent)
     * deadline and the PIT gets IRQ 0 back if legacy replacement was on.
     */
    public void reset() {
        boolean before = legacy();
        hpet.reset();
        kick();
        if (before) legacyRouting.accept(false);
    }

    /** Re-reads the deadline now (after a register write, or after a test moved the clock). */
    public void kick() {
        thread.kick();
    }

    /** Stops the thread (the machine is closing); the model keeps its state. */
    @Override
    public void close() {
        thread.close();
    }
}
