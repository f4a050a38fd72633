package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.BusDevice;
import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * The pvpanic device, ISA flavour (one port, conventionally 0x505; found by the guest through an
 * ACPI device with _HID "QEMU0001"). Reading the port returns the events this device reports;
 * the guest writes one of them when it panics (bit 0) or when a crash kernel has been loaded and
 * is about to take over (bit 1). Writes of unsupported bits are dropped.
 */
public final class Pvpanic implements BusDevice {
    public static final int DEFAULT_PORT = 0x505;
    public static final int SIZE = 1;
    public static final int PANICKED = 0x01;
    public static final int CRASH_LOADED = 0x02;
    public static final int SUPPORTED = PANICKED | CRASH_LOADED;

    private final IntConsumer listener;

    /** @param listener called on the vCPU thread with the non-empty set of supported event bits written */
    public Pvpanic(IntConsumer listener) {
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    @Override
    public long read(long offset, int size) {
        return offset == 0 ? SUPPORTED : 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset != 0) return;
        int events = (int) value & SUPPORTED;
        if (events != 0) listener.accept(events);
    }
}
