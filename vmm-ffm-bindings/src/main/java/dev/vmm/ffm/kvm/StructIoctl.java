package dev.vmm.ffm.kvm;

import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.lang.foreign.ValueLayout;
import java.util.function.Consumer;
import java.util.function.Function;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * ioctls that pass a KVM structure: read or written whole as bytes (what snapshots and migration
 * save and restore verbatim), or filled member by member from values. The layouts themselves are
 * checked against the headers ({@code KvmHeaderProbeTest}), so filling by layout puts each value
 * at the offset C has for it.
 */
final class StructIoctl {
    private StructIoctl() {}

    /** Reads a {@code size}-byte structure; {@code firstInt} (if ≥ 0) is written to its first field first (e.g. chip_id). */
    static byte[] get(int fd, String name, long req, long size, int firstInt) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(size, 8);
            if (firstInt >= 0) s.set(JAVA_INT, 0, firstInt);
            Libc.ioctl(fd, name, req, s);
            return s.toArray(JAVA_BYTE);
        }
    }

    static void set(int fd, String name, long req, byte[] data) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(data.length, 8);
            s.copyFrom(MemorySegment.ofArray(data));
            Libc.ioctl(fd, name, req, s);
        }
    }

    /**
     * Issues {@code req} with a zeroed {@code layout} whose leading members are {@code values}, in
     * order (see {@link #fill}); returns the ioctl's result.
     */
    static int write(int fd, String name, long req, StructLayout layout, long... values) {
        return send(fd, name, req, layout, s -> fill(s, layout, values));
    }

    /** Issues {@code req} with a zeroed {@code layout} that {@code encode} fills first; returns the ioctl's result. */
    static int send(int fd, String name, long req, MemoryLayout layout, Consumer<MemorySegment> encode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(layout);
            encode.accept(s);
            return Libc.ioctl(fd, name, req, s);
        }
    }

    /** Issues {@code req} with a zeroed {@code layout} for the kernel to fill, and returns what {@code decode} makes of it. */
    static <T> T read(int fd, String name, long req, MemoryLayout layout, Function<MemorySegment, T> decode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(layout);
            Libc.ioctl(fd, name, req, s);
            return decode.apply(s);
        }
    }

    /**
     * Stores {@code values} into the leading members of {@code layout} at {@code s}, one value a
     * member: a 32-bit member takes the value's low 32 bits, a 64-bit one (or a pointer) all of it, a
     * union is written through its first member. Members after the last value are left as they are.
     *
     * @throws IllegalArgumentException for more values than members, or a member that is not a scalar
     */
    static void fill(MemorySegment s, StructLayout layout, long... values) {
        int i = 0;
        long offset = 0;
        for (MemoryLayout member : layout.memberLayouts()) {
            if (i == values.length) return;
            MemoryLayout scalar = member instanceof UnionLayout u ? u.memberLayouts().getFirst() : member;
            if (!(scalar instanceof ValueLayout)) {
                throw new IllegalArgumentException(layout.name().orElse("struct") + ": member " + i + " is not a scalar");
            }
            switch ((int) scalar.byteSize()) {
                case 4 -> s.set(JAVA_INT, offset, (int) values[i]);
                case 8 -> s.set(JAVA_LONG, offset, values[i]);
                default -> throw new IllegalArgumentException(layout.name().orElse("struct") + ": member " + i
                        + " has " + scalar.byteSize() + " bytes");
            }
            offset += member.byteSize();
            i++;
        }
        if (i < values.length) throw new IllegalArgumentException(values.length + " values for " + i + " members");
    }
}
