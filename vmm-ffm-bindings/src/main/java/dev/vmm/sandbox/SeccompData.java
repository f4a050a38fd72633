package dev.vmm.sandbox;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code struct seccomp_data} of linux/seccomp.h: what a filter sees of a system call. Offsets are
 * of 32-bit words; x86_64 is little-endian, so the low half of an argument is at its offset.
 */
public final class SeccompData {
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("nr"),
            JAVA_INT.withName("arch"),
            JAVA_LONG.withName("instruction_pointer"),
            MemoryLayout.sequenceLayout(6, JAVA_LONG).withName("args")).withName("seccomp_data");

    public static final int SIZE = (int) LAYOUT.byteSize();
    public static final int NR = 0, ARCH = 4;

    private SeccompData() {}

    /** Offset of the low 32 bits of argument {@code i}. */
    public static int argLow(int i) {
        if (i < 0 || i > 5) throw new IllegalArgumentException("argument " + i);
        return 16 + 8 * i;
    }

    /** Offset of the high 32 bits of argument {@code i}. */
    public static int argHigh(int i) {
        return argLow(i) + 4;
    }
}
