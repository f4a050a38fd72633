package dev.vmm.chipset.legacy;

import dev.vmm.chipset.bus.BusDevice;
import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * A test-harness exit port (conventionally 0xf4, 4 ports wide, like QEMU's isa-debug-exit): a guest
 * store hands the low byte of the stored value to {@code exitRequest}, which is expected to stop
 * the VM with an exit status derived from it. Loads read 0.
 *
 * <p>The value is passed unmodified; QEMU turns {@code v} into exit status {@code (v << 1) | 1} so
 * a deliberate exit can never look like success. The VMM chooses its own mapping.
 */
public final class DebugExit implements BusDevice {
    public static final int DEFAULT_PORT = 0xf4;
    public static final int SIZE = 4;

    private final IntConsumer exitRequest;

    public DebugExit(IntConsumer exitRequest) {
        this.exitRequest = Objects.requireNonNull(exitRequest, "exitRequest");
    }

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        exitRequest.accept((int) (value & 0xff));
    }
}
