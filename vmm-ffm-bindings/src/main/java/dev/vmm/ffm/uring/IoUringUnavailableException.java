package dev.vmm.ffm.uring;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * io_uring cannot be used here: the kernel lacks it, a sysctl or a seccomp/container policy
 * refuses it, or the running kernel lacks opcodes the VMM needs. The message is one line that
 * says which, so the VMM can print it as it is.
 */
public final class IoUringUnavailableException extends RuntimeException {
    static final Path IO_URING_DISABLED_SYSCTL = Path.of("/proc/sys/kernel/io_uring_disabled");

    private final int errno;

    public IoUringUnavailableException(String message, int errno, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    /** The errno of the refused call, or 0 when the ring exists but lacks opcodes. */
    public int errno() { return errno; }

    /** The exception for a failed io_uring_setup, or null when the errno does not mean "unavailable". */
    static IoUringUnavailableException ofSetupError(int errno) {
        return ofSetupError(errno, readSysctl());
    }

    /**
     * @param ioUringDisabled the value of {@code kernel.io_uring_disabled}, or null when the kernel
     *                        has no such sysctl (it appeared in Linux 6.6)
     */
    static IoUringUnavailableException ofSetupError(int errno, String ioUringDisabled) {
        NativeException cause = new NativeException("io_uring_setup", errno);
        String why;
        if (errno == Errno.ENOSYS) {
            why = "the kernel has no io_uring_setup (built without CONFIG_IO_URING, or hidden by a seccomp filter)";
        } else if (errno == Errno.EPERM || errno == Errno.EACCES) {
            if ("2".equals(ioUringDisabled)) {
                why = "disabled by sysctl kernel.io_uring_disabled=2 (set it to 0 to allow io_uring)";
            } else if ("1".equals(ioUringDisabled)) {
                why = "sysctl kernel.io_uring_disabled=1 allows it only to members of kernel.io_uring_group "
                        + "or CAP_SYS_ADMIN (set it to 0, or run the VMM in that group)";
            } else {
                why = "io_uring_setup was refused (" + Libc.strerror(errno)
                        + "), most likely by a seccomp filter or container policy";
            }
        } else {
            return null;
        }
        return new IoUringUnavailableException("io_uring is unavailable: " + why, errno, cause);
    }

    private static String readSysctl() {
        try {
            return Files.readString(IO_URING_DISABLED_SYSCTL).trim();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
