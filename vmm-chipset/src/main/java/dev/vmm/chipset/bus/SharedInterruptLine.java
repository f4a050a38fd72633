package dev.vmm.chipset.bus;

/**
 * A level-triggered line several devices drive at once (the ACPI SCI: PM1 events and GPE0 events):
 * the line is asserted while any source asserts it. Each device gets its own {@link #source()}.
 */
public final class SharedInterruptLine {
    private final InterruptLine line;
    private long asserted;      // one bit per source
    private int sources;
    private boolean level;

    public SharedInterruptLine(InterruptLine line) {
        this.line = java.util.Objects.requireNonNull(line);
    }

    /** A new source of this line (at most 64). */
    public synchronized InterruptLine source() {
        if (sources == 64) throw new IllegalStateException("a shared line has at most 64 sources");
        long bit = 1L << sources++;
        return on -> drive(bit, on);
    }

    // The line is driven under the lock so two sources changing at once cannot reorder its edges.
    private synchronized void drive(long bit, boolean on) {
        asserted = on ? asserted | bit : asserted & ~bit;
        boolean now = asserted != 0;
        if (now == level) return;
        level = now;
        line.set(now);
    }
}
