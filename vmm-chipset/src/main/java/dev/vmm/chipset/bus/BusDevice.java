package dev.vmm.chipset.bus;

/**
 * A device as a bus sees it: a state machine that answers loads and stores at offsets inside its
 * registered range. Implementations do no I/O and own no threads (rust-vmm's vm-superio style);
 * side effects leave through interfaces such as {@link InterruptLine} or an output sink.
 *
 * <p>Called on vCPU threads; a device reachable from several vCPUs synchronises itself.
 */
public interface BusDevice {
    /**
     * A guest load of {@code size} bytes (1, 2, 4 or 8) at {@code offset} from the device's base.
     * Returns the value zero-extended; unimplemented registers read as all ones or zero as the
     * hardware would, never throw.
     */
    long read(long offset, int size);

    /** A guest store of the low {@code size} bytes of {@code value} at {@code offset}. */
    void write(long offset, int size, long value);
}
