package dev.vmm.chipset.legacy;

/**
 * Where a character device's output goes (a console, a log file, a socket buffer). Devices call it
 * while holding their own lock, on a vCPU thread, so an implementation must not block for long:
 * buffer and hand off rather than doing a blocking write per byte.
 */
@FunctionalInterface
public interface ByteSink {
    /** One byte of output. */
    void write(byte b);

    /** Several bytes of output; the default forwards byte by byte. */
    default void write(byte[] b, int off, int len) {
        for (int i = 0; i < len; i++) write(b[off + i]);
    }

    /**
     * Discards everything. A method, not a constant field: see {@code InterruptLine.none()} (a static
     * initializer here kept every {@code ByteSink} lambda out of the AOT cache; #19).
     */
    static ByteSink none() {
        return b -> { };
    }
}
