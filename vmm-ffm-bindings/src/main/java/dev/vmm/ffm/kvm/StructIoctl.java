package dev.vmm.ffm.kvm;

import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * ioctls that read or write a whole KVM structure as bytes: what snapshots and migration save and
 * restore verbatim (the layouts themselves are checked against the headers in KvmLayouts).
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
}
