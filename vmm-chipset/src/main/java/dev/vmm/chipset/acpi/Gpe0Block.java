package dev.vmm.chipset.acpi;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;

import java.util.Objects;

/**
 * The ACPI general-purpose event block GPE0 (ACPI 6.5 §4.8.4.1): a status half (write 1 to clear)
 * followed by an enable half of the same length. The SCI is asserted while any enabled status bit
 * is set. The FADT's GPE0_BLK/GPE0_BLK_LEN describe it to the OS; the host side {@link #raise}s a
 * bit for an event (bit 1: PCI hot-plug on pc, {@code \_GPE._E01}; bit 2: CPU hot-plug,
 * {@code \_GPE._E02}), exactly as QEMU's DSDT numbers them.
 *
 * <p>Two sizes exist, as in QEMU: {@link #PIIX4_LENGTH} bytes at {@link #PIIX4_BASE} on {@code pc}
 * and {@link #ICH9_LENGTH} bytes at PMBASE + {@link #ICH9_OFFSET_IN_PM_BLOCK} on {@code q35}. Any
 * access width 1-8 at any offset inside the block works byte by byte; bytes outside read 0.
 */
public final class Gpe0Block implements BusDevice {
    /** QEMU's PIIX4 GPE0 block (pc): 2 status bytes, 2 enable bytes. */
    public static final int PIIX4_BASE = 0xafe0, PIIX4_LENGTH = 4;
    /** The ICH9 GPE0 block (q35): 8 status bytes, 8 enable bytes, at PMBASE + 0x20. */
    public static final int ICH9_OFFSET_IN_PM_BLOCK = 0x20, ICH9_LENGTH = 16;

    private final InterruptLine sci;
    private final int half;
    private long status, enable;
    private boolean level;

    /**
     * @param length the whole block in bytes (status + enable): even, 2..16
     * @param sci    the SCI as this block drives it (shared with PM1: see {@link dev.vmm.chipset.bus.SharedInterruptLine})
     */
    public Gpe0Block(int length, InterruptLine sci) {
        if (length < 2 || length > 16 || (length & 1) != 0) throw new IllegalArgumentException("GPE0 block length " + length);
        this.half = length / 2;
        this.sci = Objects.requireNonNull(sci);
    }

    /** The block's length in bytes (what to register on the I/O bus and put in the FADT). */
    public int length() {
        return 2 * half;
    }

    /** Sets status bit {@code bit} (0 .. 8 × length/2 − 1): the event is pending until the guest clears it. */
    public void raise(int bit) {
        if (bit < 0 || bit >= 8 * half) throw new IllegalArgumentException("GPE bit " + bit + " outside 0.." + (8 * half - 1));
        synchronized (this) { status |= 1L << bit; }
        update();
    }

    @Override
    public synchronized long read(long offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            long o = offset + i;
            long b = o >= 0 && o < half ? status >>> (8 * o) : o >= half && o < 2L * half ? enable >>> (8 * (o - half)) : 0;
            v |= (b & 0xff) << (8 * i);
        }
        return v;
    }

    @Override
    public void write(long offset, int size, long value) {
        synchronized (this) {
            for (int i = 0; i < size; i++) {
                long o = offset + i;
                long b = (value >>> (8 * i)) & 0xff;
                if (o >= 0 && o < half) status &= ~(b << (8 * o));
                else if (o >= half && o < 2L * half) enable = (enable & ~(0xffL << (8 * (o - half)))) | (b << (8 * (o - half)));
            }
        }
        update();
    }

    /** Power-on state (also what an S3 wake does, as QEMU's reset of the PM device): no event, nothing enabled. */
    public void reset() {
        synchronized (this) {
            status = 0;
            enable = 0;
        }
        update();
    }

    /** What snapshots and migration carry: pending events and the guest's enables. */
    public record State(long status, long enable) {}

    public synchronized State state() {
        return new State(status, enable);
    }

    /** Restores a saved state; bits beyond this block's length are dropped (a peer cannot set them). */
    public void restore(State s) {
        long mask = half == 8 ? -1L : (1L << (8 * half)) - 1;
        synchronized (this) {
            status = s.status() & mask;
            enable = s.enable() & mask;
        }
        update();
    }

    // Under the lock, so a raise on an I/O thread and a guest write cannot reorder the SCI's edges.
    private synchronized void update() {
        boolean now = (status & enable) != 0;
        if (now == level) return;
        level = now;
        sci.set(now);
    }
}
