package dev.vmm.chipset.bus;

/**
 * A device made of 8-bit registers on an ISA-style bus (UART, i8042, CMOS). A wider guest access
 * is split into byte cycles, lowest address first, as the ISA bus does — so a 16-bit read of
 * two adjacent registers has the side effects of two byte reads.
 */
public interface ByteRegisterDevice extends BusDevice {
    /** A guest byte load at {@code offset}; 0..255. */
    int readByte(long offset);

    /** A guest byte store of {@code value} (0..255) at {@code offset}. */
    void writeByte(long offset, int value);

    @Override
    default long read(long offset, int size) {
        if (size == 1) return readByte(offset);
        long v = 0;
        for (int i = 0; i < size; i++) v |= (long) readByte(offset + i) << (8 * i);
        return v;
    }

    @Override
    default void write(long offset, int size, long value) {
        for (int i = 0; i < size; i++) writeByte(offset + i, (int) (value >>> (8 * i)) & 0xff);
    }
}
