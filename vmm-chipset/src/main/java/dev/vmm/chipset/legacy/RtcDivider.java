package dev.vmm.chipset.legacy;

/**
 * Status register A's divider chain as time arithmetic: the 32.768 kHz time base counted from the
 * epoch of guest time, the periodic interrupt rate its RS bits select, and whether the DV bits let
 * the chain run. Periodic ticks fall on multiples of the period in 32.768 kHz cycles, so their phase
 * follows guest time like the chip's divider stages.
 */
final class RtcDivider {
    static final long NANOS_PER_SECOND = 1_000_000_000L;
    static final int HZ = 32_768;
    static final int DV_MASK = 0x70, RS_MASK = 0x0f;
    /** DV = 010: the 32.768 kHz time base, the normal setting. */
    static final int DV_NORMAL = 0x20;

    private RtcDivider() {}

    /**
     * Whether the chain runs (the clock counts). DV values above 010 (the reset values 11x and the
     * test values) hold it, as QEMU's model does; 000 and 001 (the chip's 4.19 MHz and 1.05 MHz time
     * bases) count as running too, there being only one time base here.
     */
    static boolean running(int statusA) {
        return (statusA & DV_MASK) <= DV_NORMAL;
    }

    /** The periodic interrupt period in 32.768 kHz cycles, 0 for RS = 0 (none). RS 1 and 2 repeat RS 8 and 9. */
    static long periodCycles(int statusA) {
        int rs = statusA & RS_MASK;
        if (rs == 0) return 0;
        return rs <= 2 ? 1L << (rs + 6) : 1L << (rs - 1);
    }

    /** Whole 32.768 kHz cycles elapsed at guest time {@code nanos}. */
    static long cycles(long nanos) {
        return Math.floorDiv(nanos, NANOS_PER_SECOND) * HZ + Math.floorMod(nanos, NANOS_PER_SECOND) * HZ / NANOS_PER_SECOND;
    }

    /** The first guest nanosecond at which {@link #cycles} reaches {@code cycles}. */
    static long nanosAt(long cycles) {
        long rem = Math.floorMod(cycles, (long) HZ);
        return Math.floorDiv(cycles, (long) HZ) * NANOS_PER_SECOND + (rem * NANOS_PER_SECOND + HZ - 1) / HZ;
    }

    /** The index of the periodic tick interval containing {@code nanos}. */
    static long periodIndex(long nanos, long periodCycles) {
        return Math.floorDiv(cycles(nanos), periodCycles);
    }

    /** The guest time of the first periodic tick after {@code nanos}. */
    static long nextTick(long nanos, long periodCycles) {
        return nanosAt((periodIndex(nanos, periodCycles) + 1) * periodCycles);
    }
}
