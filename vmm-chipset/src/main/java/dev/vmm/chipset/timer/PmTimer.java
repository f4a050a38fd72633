package dev.vmm.chipset.timer;

import dev.vmm.chipset.bus.BusDevice;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The ACPI power-management timer (ACPI 6.4 section 4.8.3.3): a free-running up-counter at
 * 3.579545 MHz, 24 bits wide (FADT TMR_VAL_EXT clear, as QEMU's ICH9/PIIX4 timer) or 32 bits
 * (TMR_VAL_EXT set), read-only at PMBASE + 8. Each read computes the value from the injected clock,
 * so the counter needs no thread. {@link #statusToggles()} tells the PM1 status logic how often the
 * top bit has changed (TMR_STS) since it last asked.
 *
 * <p>Reads of 1, 2 or 4 bytes at offsets 0-3 return the corresponding bytes; writes are ignored.
 */
public final class PmTimer implements BusDevice {
    public static final long FREQUENCY_HZ = 3_579_545L;
    public static final int SIZE = 4;

    private final LongSupplier nanos;
    private final int bits;
    private final long start;
    private long lastTopBitPeriod;

    /** @param bits 24 or 32 */
    public PmTimer(LongSupplier nanos, int bits) {
        if (bits != 24 && bits != 32) throw new IllegalArgumentException("the PM timer is 24 or 32 bits wide");
        this.nanos = Objects.requireNonNull(nanos);
        this.bits = bits;
        this.start = nanos.getAsLong();
    }

    public int bits() { return bits; }

    /** Ticks since creation (unbounded). */
    private long ticks() {
        long ns = nanos.getAsLong() - start;
        // ns * 3579545 / 1e9 without overflow for ~80 years of uptime: split seconds and remainder.
        long s = Math.floorDiv(ns, 1_000_000_000L), rem = Math.floorMod(ns, 1_000_000_000L);
        return s * FREQUENCY_HZ + rem * FREQUENCY_HZ / 1_000_000_000L;
    }

    /** The counter as the guest reads it. */
    public long value() {
        return ticks() & ((1L << bits) - 1);
    }

    /**
     * How many times the counter's top bit changed since the previous call (the PM1 TMR_STS event
     * fires on each change); the first call counts from creation.
     */
    public synchronized long statusToggles() {
        long period = ticks() >>> (bits - 1);
        long n = period - lastTopBitPeriod;
        lastTopBitPeriod = period;
        return n;
    }

    @Override
    public long read(long offset, int size) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > SIZE) return 0;
        long v = value() >>> (8 * offset);
        return size == 4 ? v & 0xffff_ffffL : v & ((1L << (8 * size)) - 1);
    }

    @Override
    public void write(long offset, int size, long value) {
        // read-only
    }
}
