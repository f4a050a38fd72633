package dev.vmm.ram;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@code prealloc=on}: every page of guest RAM is allocated before the guest starts, so the guest
 * never waits for a host page fault and a host short of memory fails at start, not mid-run.
 * {@code MADV_POPULATE_WRITE} (Linux 5.14) faults the range in one call; older kernels answer
 * EINVAL and the pages are touched one by one instead (a zero written to each fresh, zero page).
 */
public final class RamPrealloc {
    private static final long PAGE = 4096;

    private RamPrealloc() {}

    /** How {@link #populate} did it. */
    public enum Method { POPULATE_WRITE, TOUCH }

    /** Allocates every page of {@code ram} (fresh anonymous memory: its content is zero and stays so). */
    public static Method populate(MemorySegment ram) {
        try {
            Libc.madvise(ram, Libc.MADV_POPULATE_WRITE);
            return Method.POPULATE_WRITE;
        } catch (NativeException e) {
            if (e.errno() != Errno.EINVAL) throw e; // ENOMEM, EFAULT...: the host cannot give the memory
            touch(ram);
            return Method.TOUCH;
        }
    }

    /** The fallback: one write per page. */
    static void touch(MemorySegment ram) {
        for (long off = 0; off < ram.byteSize(); off += PAGE) ram.set(ValueLayout.JAVA_BYTE, off, (byte) 0);
    }
}
