package dev.vmm.chipset.q35;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import java.util.Objects;

/**
 * The ICH9 general-purpose event block GPE0 (PMBASE + 0x20, {@link #SIZE} bytes): 64 status bits
 * (GPE0_STS, write 1 to clear) followed by 64 enable bits (GPE0_EN). The SCI is asserted while
 * any enabled status bit is set. The FADT's GPE0_BLK/GPE0_BLK_LEN describe it to the OS; the
 * device side {@link #raise}s a bit for an event (e.g. ACPI hot-plug, later).
 * Any access width 1-8 at any offset inside the block works byte by byte.
 */
public final class Ich9Gpe0 implements BusDevice {
    public static final int OFFSET_IN_PM_BLOCK = 0x20;
    public static final int SIZE = 16;

    private final InterruptLine sci;
    private long status, enable;
    private boolean level;

    public Ich9Gpe0(InterruptLine sci) {
        this.sci = Objects.requireNonNull(sci);
    }

    /** Sets status bit {@code bit} (0..63). */
    public void raise(int bit) {
        if (bit < 0 || bit > 63) throw new IllegalArgumentException("GPE bit 0..63");
        synchronized (this) { status |= 1L << bit; }
        update();
    }

    @Override
    public synchronized long read(long offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            long o = offset + i;
            long b = o >= 0 && o < 8 ? status >>> (8 * o) : o >= 8 && o < 16 ? enable >>> (8 * (o - 8)) : 0;
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
                if (o >= 0 && o < 8) status &= ~(b << (8 * o));
                else if (o >= 8 && o < 16) enable = (enable & ~(0xffL << (8 * (o - 8)))) | (b << (8 * (o - 8)));
            }
        }
        update();
    }

    private void update() {
        boolean now;
        synchronized (this) {
            now = (status & enable) != 0;
            if (now == level) return;
            level = now;
        }
        sci.set(now);
    }
}
