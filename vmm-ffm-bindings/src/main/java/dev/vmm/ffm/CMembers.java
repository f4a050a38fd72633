package dev.vmm.ffm;

import java.lang.foreign.MemoryLayout;

import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Named members of C structs by their kernel type ({@code __u8} .. {@code __u64}, {@code __u8[n]}),
 * the vocabulary the struct layouts of the bindings ({@code KvmLayouts}, {@code IoUringLayouts}) are
 * written in: the name is the C member name, which the header probe tests look up.
 */
public final class CMembers {
    private CMembers() {}

    public static MemoryLayout u8(String name) { return JAVA_BYTE.withName(name); }

    public static MemoryLayout u16(String name) { return JAVA_SHORT.withName(name); }

    public static MemoryLayout u32(String name) { return JAVA_INT.withName(name); }

    public static MemoryLayout u64(String name) { return JAVA_LONG.withName(name); }

    /** {@code __u8 name[count]}. */
    public static MemoryLayout bytes(String name, long count) { return sequenceLayout(count, JAVA_BYTE).withName(name); }
}
