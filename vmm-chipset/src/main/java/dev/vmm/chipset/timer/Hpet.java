package dev.vmm.chipset.timer;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.util.Objects;
import java.util.function.IntFunction;
import java.util.function.LongSupplier;

/**
 * High Precision Event Timer (IA-PC HPET specification 1.0a) at MMIO 0xFED00000 ({@link #SIZE}
 * bytes): a 64-bit main counter at 100 MHz (period 10 ns = 10,000,000 fs) and three comparators.
 *
 * <ul>
 *   <li>General capabilities (0x000): revision 1, 3 timers, 64-bit counter, legacy replacement
 *       capable, vendor 0x8086; configuration (0x010): ENABLE_CNF, LEG_RT_CNF; interrupt status
 *       (0x020, write 1 to clear, level-triggered timers only); main counter (0x0F0, writable; it
 *       runs only while enabled).</li>
 *   <li>Timer N at 0x100 + 0x20 N: configuration/capabilities (level/edge, enable, periodic,
 *       VAL_SET, 32-bit mode, IOAPIC route; periodic and 64-bit capable, FSB delivery not
 *       supported, route capability = {@link #ROUTE_CAP}), comparator (0x08), FSB route (0x10, reads 0).</li>
 *   <li>Periodic mode: a comparator write sets the period and, with VAL_SET (or in one-shot mode),
 *       the comparator; each match adds the period. One-shot: one interrupt when the counter reaches
 *       the comparator. 32-bit mode truncates comparator and period when entered, then compares the
 *       low 32 bits and wraps (a later 64-bit write still stores the high half, as in QEMU).</li>
 *   <li>Routing: with LEG_RT_CNF timer 0 drives ISA IRQ 0 (IOAPIC pin 2) and timer 1 IRQ 8;
 *       otherwise Tn_INT_ROUTE_CNF names the IOAPIC pin (any value reads back, as in QEMU; a pin
 *       outside the capability delivers nothing).
 *       Edge-triggered timers pulse their line; level-triggered ones set the status bit and hold the
 *       line until the guest clears it.</li>
 * </ul>
 *
 * Time comes from the injected clock ({@code LongSupplier} of nanoseconds), so tests drive it.
 * The device has no thread: the VMM arms a host timer for {@link #nextDeadlineNanos()} and calls
 * {@link #poll()} when it expires; every register access also polls first.
 */
public final class Hpet implements BusDevice {
    public static final long DEFAULT_BASE = 0xFED0_0000L;
    public static final int SIZE = 0x400;
    public static final int TIMERS = 3;
    public static final long PERIOD_FS = 10_000_000L;     // 10 ns
    public static final long NANOS_PER_TICK = 10;
    /** IOAPIC pins a timer may be routed to: 2 (for IRQ 0's override) and 8, and the PCI range 16-23. */
    public static final long ROUTE_CAP = (1L << 2) | (1L << 8) | 0x00ff_0000L;
    public static final int VENDOR_ID = 0x8086;

    public static final int CAP = 0x000, CONFIG = 0x010, ISR = 0x020, COUNTER = 0x0f0, TIMER0 = 0x100;
    public static final int CFG_ENABLE = 1, CFG_LEGACY = 2;
    public static final int TN_LEVEL = 1 << 1, TN_ENABLE = 1 << 2, TN_PERIODIC = 1 << 3, TN_PERIODIC_CAP = 1 << 4,
            TN_SIZE_CAP = 1 << 5, TN_VAL_SET = 1 << 6, TN_32BIT = 1 << 8, TN_ROUTE_SHIFT = 9, TN_ROUTE_MASK = 0x1f << 9,
            TN_FSB_ENABLE = 1 << 14;
    /** Guest-writable timer config bits; FSB_EN is stored (as QEMU does) but FSB delivery is not offered. */
    private static final long TN_WRITABLE = TN_LEVEL | TN_ENABLE | TN_PERIODIC | TN_VAL_SET | TN_32BIT | TN_ROUTE_MASK | TN_FSB_ENABLE;

    private final LongSupplier nanos;
    private final IntFunction<InterruptLine> ioapicPin;

    private long config;
    private long isr;
    private long counterBase;        // counter value at counterBaseNanos (or the frozen value)
    private long counterBaseNanos;
    private long lastPolled;         // counter value at the last poll: matches in (lastPolled, now] fire
    private final long[] tnConfig = new long[TIMERS];
    private final long[] comparator = new long[TIMERS];
    private final long[] period = new long[TIMERS];
    private final boolean[] armed = new boolean[TIMERS];  // one-shot still to fire
    private final InterruptLine[] driven = new InterruptLine[TIMERS];

    /**
     * @param nanos     monotonic clock in nanoseconds (System::nanoTime in the VMM)
     * @param ioapicPin the line for an IOAPIC pin (GSI); asked for pins 2 and 8 and the routed ones
     */
    public Hpet(LongSupplier nanos, IntFunction<InterruptLine> ioapicPin) {
        this.nanos = Objects.requireNonNull(nanos);
        this.ioapicPin = Objects.requireNonNull(ioapicPin);
        reset();
    }

    /** The capabilities register value (also the ACPI HPET table's Event Timer Block ID in its low half). */
    public static long capabilities() {
        return 1 | (long) (TIMERS - 1) << 8 | 1L << 13 | 1L << 15 | (long) VENDOR_ID << 16 | PERIOD_FS << 32;
    }

    /**
     * The device reset (QEMU's on an S3 wake, which resets every device and keeps RAM): the
     * counter stopped at 0, legacy replacement off, every timer disabled with its comparator all
     * ones and no period, no interrupt status; level lines it drove are released.
     */
    public synchronized void reset() {
        config = 0;
        isr = 0;
        counterBase = 0;
        counterBaseNanos = nanos.getAsLong();
        lastPolled = 0;
        for (int i = 0; i < TIMERS; i++) {
            tnConfig[i] = 0;
            comparator[i] = -1L;
            period[i] = 0;
            armed[i] = false;
        }
        refreshLevels();
    }

    // ------------------------------------------------------------------ time

    private boolean enabled() { return (config & CFG_ENABLE) != 0; }

    private long counterNow(long now) {
        return enabled() ? counterBase + Math.floorDiv(now - counterBaseNanos, NANOS_PER_TICK) : counterBase;
    }

    /** The main counter now. */
    public synchronized long counter() {
        return counterNow(nanos.getAsLong());
    }

    /**
     * The clock time (same clock as the constructor's) at which the next enabled timer fires, or
     * {@link Long#MAX_VALUE} when none will.
     */
    public synchronized long nextDeadlineNanos() {
        if (!enabled()) return Long.MAX_VALUE;
        long now = nanos.getAsLong();
        long c = counterNow(now);
        long best = Long.MAX_VALUE;
        for (int i = 0; i < TIMERS; i++) {
            if (!willFire(i)) continue;
            long ticks = ticksUntil(i, c);
            if (Long.compareUnsigned(ticks, 1L << 50) > 0) continue;   // decades away (a 64-bit comparator behind the counter): never
            long at = now + ticks * NANOS_PER_TICK - Math.floorMod(now - counterBaseNanos, NANOS_PER_TICK);
            best = Math.min(best, Math.max(at, now));
        }
        return best;
    }

    private boolean willFire(int i) {
        if ((tnConfig[i] & TN_ENABLE) == 0) return false;
        return (tnConfig[i] & TN_PERIODIC) != 0 ? period[i] != 0 : armed[i];
    }

    /** Ticks from counter value {@code c} to timer {@code i}'s next match (at least 1). */
    private long ticksUntil(int i, long c) {
        long mask = (tnConfig[i] & TN_32BIT) != 0 ? 0xffff_ffffL : -1L;
        long d = (comparator[i] - c) & mask;
        return d == 0 ? (mask == -1L ? Long.MAX_VALUE / 4 : 1L << 32) : d;
    }

    /** Fires every timer whose comparator the counter has reached since the last poll. */
    public void poll() {
        synchronized (this) { pollLocked(); }
    }

    private void pollLocked() {
        long now = counterNow(nanos.getAsLong());
        long elapsed = now - lastPolled;
        if (elapsed <= 0) {
            lastPolled = now;
            return;
        }
        for (int i = 0; i < TIMERS; i++) {
            if ((tnConfig[i] & TN_ENABLE) == 0 || !enabled()) continue;
            boolean periodic = (tnConfig[i] & TN_PERIODIC) != 0;
            if (!periodic && !armed[i]) continue;
            long mask = (tnConfig[i] & TN_32BIT) != 0 ? 0xffff_ffffL : -1L;
            long d = (comparator[i] - lastPolled) & mask;
            boolean hit = d != 0 && Long.compareUnsigned(d, elapsed) <= 0;
            if (!hit) continue;
            if (periodic && period[i] != 0) {
                // Advance past now in whole periods (missed periods collapse into one interrupt).
                long p = period[i] & mask;
                long behind = (now - (lastPolled + d)) ;
                long steps = behind / p + 1;
                comparator[i] = (comparator[i] + steps * p) & mask;
            } else {
                armed[i] = false;
            }
            fire(i);
        }
        lastPolled = now;
    }

    private void fire(int i) {
        InterruptLine line = lineOf(i);
        if ((tnConfig[i] & TN_LEVEL) != 0) {
            isr |= 1L << i;
            if (line != null) setDriven(i, line, true);
        } else if (line != null) {
            line.set(true);
            line.set(false);
        }
    }

    private InterruptLine lineOf(int i) {
        if ((config & CFG_LEGACY) != 0 && i < 2) return ioapicPin.apply(i == 0 ? 2 : 8);
        int pin = (int) ((tnConfig[i] & TN_ROUTE_MASK) >>> TN_ROUTE_SHIFT);
        return (ROUTE_CAP & (1L << pin)) != 0 ? ioapicPin.apply(pin) : null;
    }

    private void setDriven(int i, InterruptLine line, boolean level) {
        if (level) {
            driven[i] = line;
            line.set(true);
        } else if (driven[i] != null) {
            driven[i].set(false);
            driven[i] = null;
        }
    }

    /** Level lines follow the status bits and the enables (after a config or status change). */
    private void refreshLevels() {
        for (int i = 0; i < TIMERS; i++) {
            boolean want = (isr & (1L << i)) != 0 && (tnConfig[i] & TN_LEVEL) != 0 && (tnConfig[i] & TN_ENABLE) != 0;
            InterruptLine line = want ? lineOf(i) : null;
            if (driven[i] != null && driven[i] != line) setDriven(i, null, false);
            if (line != null && driven[i] == null) setDriven(i, line, true);
        }
    }

    // ------------------------------------------------------------------ registers

    @Override
    public synchronized long read(long offset, int size) {
        if (!(size == 4 || size == 8) || (offset & (size - 1)) != 0 || offset < 0 || offset >= SIZE) return 0;
        pollLocked();
        long reg = register(offset & ~7L);
        return size == 8 ? reg : (reg >>> (8 * (offset & 4))) & 0xffff_ffffL;
    }

    private long register(long off) {
        if (off == CAP) return capabilities();
        if (off == CONFIG) return config;
        if (off == ISR) return isr;
        if (off == COUNTER) return counterNow(nanos.getAsLong());
        int t = timerOf(off);
        if (t < 0) return 0;
        long r = off - TIMER0 - 0x20L * t;
        if (r == 0) return tnConfig[t] | TN_PERIODIC_CAP | TN_SIZE_CAP | ROUTE_CAP << 32;
        if (r == 8) return comparator[t];
        return 0; // FSB route: no FSB delivery
    }

    private static int timerOf(long off) {
        if (off < TIMER0 || off >= TIMER0 + 0x20L * TIMERS) return -1;
        return (int) ((off - TIMER0) / 0x20);
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (!(size == 4 || size == 8) || (offset & (size - 1)) != 0 || offset < 0 || offset >= SIZE) return;
        pollLocked();
        long aligned = offset & ~7L;
        long old = register(aligned);
        long mask = size == 8 ? -1L : 0xffff_ffffL << (8 * (offset & 4));
        long shifted = size == 8 ? value : (value & 0xffff_ffffL) << (8 * (offset & 4));
        long v = (old & ~mask) | (shifted & mask);
        writeRegister(aligned, v, mask);
        refreshLevels();
    }

    private void writeRegister(long off, long v, long mask) {
        long now = nanos.getAsLong();
        if (off == CONFIG) {
            boolean wasEnabled = enabled();
            long c = counterNow(now);
            config = v & (CFG_ENABLE | CFG_LEGACY);
            if (wasEnabled != enabled()) {
                counterBase = c;           // freeze or restart from the current value
                counterBaseNanos = now;
                lastPolled = c;
            }
        } else if (off == ISR) {
            isr &= ~(v & mask);            // write 1 to clear
        } else if (off == COUNTER) {
            counterBase = v;
            counterBaseNanos = now;
            lastPolled = v;
        } else {
            int t = timerOf(off);
            if (t < 0) return;
            long r = off - TIMER0 - 0x20L * t;
            if (r == 0) {
                long cfg = v & TN_WRITABLE;   // any route reads back (as QEMU); unsupported ones deliver nothing
                if ((cfg & TN_LEVEL) == 0) isr &= ~(1L << t);
                if ((cfg & TN_32BIT) != 0 && (tnConfig[t] & TN_32BIT) == 0) {
                    comparator[t] &= 0xffff_ffffL;   // entering 32-bit mode truncates comparator and period
                    period[t] &= 0xffff_ffffL;
                }
                tnConfig[t] = cfg;
            } else if (r == 8) {
                // As QEMU: the high half stays writable in 32-bit mode (matching uses the low 32 bits).
                long value = v;
                boolean periodic = (tnConfig[t] & TN_PERIODIC) != 0;
                if (!periodic || (tnConfig[t] & TN_VAL_SET) != 0) comparator[t] = (comparator[t] & ~mask) | (value & mask);
                if (periodic) period[t] = (period[t] & ~mask) | (value & mask);
                tnConfig[t] &= ~TN_VAL_SET;
                armed[t] = true;
            }
        }
    }
}
