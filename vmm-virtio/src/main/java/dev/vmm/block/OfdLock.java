package dev.vmm.block;

import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The whole-file fcntl OFD lock every disk image takes (raw files through io_uring, formatted
 * images through {@link ImageFile}): a write lock for read-write, a read lock for read-only, so one
 * image is never open read-write twice, nor read-write while someone reads it. An OFD lock belongs
 * to the open file description, not the process: two opens inside this VMM exclude each other too,
 * and closing the fd drops it. Callers word their own messages (the user sees them).
 */
public final class OfdLock {
    private OfdLock() {}

    /** Read lock for a read-only open, write lock for a read-write one; 0 or {@code -errno}. */
    public static int lock(int fd, boolean readOnly) {
        return set(fd, readOnly ? Libc.F_RDLCK : Libc.F_WRLCK);
    }

    /** Drops the lock (live-migration hand-over); 0 or {@code -errno}. */
    public static int unlock(int fd) {
        return set(fd, Libc.F_UNLCK);
    }

    /** True when {@code result} of {@link #lock} means another open file description holds a conflicting lock. */
    public static boolean heldElsewhere(int result) {
        return result == -Errno.EAGAIN || result == -Errno.EACCES;
    }

    private static int set(int fd, short type) {
        try (Arena a = Arena.ofConfined()) {
            // Zeroed: l_whence SEEK_SET, l_start 0, l_len 0 = the whole file; l_pid 0 as OFD locks require.
            MemorySegment fl = a.allocate(Libc.FLOCK);
            fl.set(ValueLayout.JAVA_SHORT, Libc.FLOCK.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("l_type")), type);
            return Libc.fcntlRaw(fd, Libc.F_OFD_SETLK, fl);
        }
    }
}
