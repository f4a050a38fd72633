package dev.vmm.sandbox;

import dev.vmm.threads.ThreadKind;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The allow-list of each thread kind for {@code --sandbox strict} (docs/sandbox.md has the figures
 * and the commands). Two sources, kept apart so that a list is never mistaken for measured:
 *
 * <ul>
 *   <li><b>Measured</b> here without /dev/kvm ({@code benchmarks/sandbox/measure.sh}: strace -f of
 *       a QMP server with the machine-free commands, {@code vmm nbd} served to qemu-img,
 *       {@code vmm img convert/check}): CONTROL.</li>
 *   <li><b>Derived from the code, not measured</b>: VCPU (the ioctls VcpuFd issues, KVM_RUN, and the
 *       device emulation an exit runs on the vCPU thread: eventfd writes, irq ioctls on the VM fd,
 *       console writes), IO (io_uring, epoll, eventfd, tap readv/writev), BLOCK_WORKER,
 *       MIGRATION, CONSOLE, TIMER. These need a KVM host and the guest suite to measure.</li>
 * </ul>
 *
 * Every kind also gets {@link #JVM_THREAD}: what any Java thread was seen to do in every trace
 * (futexes, memory management, signal masks, and class loading from the class path, which happens
 * on whichever thread first touches a class).
 */
public final class PerKindAllowLists {
    /** What any JVM thread needs; measured on every traced thread (docs/sandbox.md). */
    static final List<String> JVM_THREAD = List.of("futex", "mmap", "munmap", "mprotect", "madvise", "brk",
            "rt_sigprocmask", "rt_sigreturn", "rt_sigaction", "restart_syscall", "sched_yield", "sched_getaffinity",
            "gettid", "getpid", "exit", "exit_group", "clock_gettime", "clock_nanosleep", "nanosleep", "rseq",
            "set_robust_list", "prctl", "clone", "clone3", "getrandom", "sysinfo", "tgkill",
            // class loading, class initialisation (NIO's dispatcher makes a socketpair) and logging,
            // on whichever thread gets there first
            "socketpair", "openat", "read", "pread64", "lseek", "fstat", "stat", "newfstatat", "statx", "lstat", "readlink",
            "access", "close", "fcntl", "write", "getuid", "geteuid");

    /** Measured (benchmarks/sandbox/measure.sh, QMP server): qmp-accept and qmp-client threads. */
    static final List<String> CONTROL_MEASURED = List.of("accept", "getsockname");
    /**
     * CONTROL, derived: 'migrate' connects out from the QMP thread; dump-guest-memory and
     * x-vmm-snapshot-save write a file and rename it into place. (First run of the strict test without
     * unlink: deleting a file on a CONTROL thread got EPERM, as it should have.)
     */
    static final List<String> CONTROL_DERIVED = List.of("socket", "connect", "setsockopt", "getsockopt", "accept4",
            "pwrite64", "ftruncate", "fsync", "fdatasync", "shutdown", "dup", "unlink", "unlinkat", "rename",
            "renameat", "renameat2", "fchmod",
            "recvmsg"); // QMP clients are read with recvmsg (fds passed with getfd: dev.vmm.control.fdpass)

    static final Map<ThreadKind, List<String>> DERIVED = new EnumMap<>(Map.of(
            ThreadKind.VCPU, List.of("ioctl", "readv", "writev", "eventfd2", "ppoll", "poll"),
            ThreadKind.IO, List.of("io_uring_enter", "io_uring_register", "io_uring_setup", "epoll_wait", "epoll_pwait",
                    "epoll_ctl", "epoll_create1", "eventfd2", "readv", "writev", "preadv", "pwritev", "pwrite64",
                    "fsync", "fdatasync", "fallocate", "ioctl", "recvmsg", "sendmsg"),
            ThreadKind.BLOCK_WORKER, List.of("pwrite64", "preadv", "pwritev", "fsync", "fdatasync", "fallocate", "ftruncate"),
            ThreadKind.MIGRATION, List.of("socket", "connect", "sendto", "recvfrom", "sendmsg", "recvmsg", "setsockopt",
                    "getsockopt", "shutdown", "ioctl", "poll", "ppoll"),
            ThreadKind.CONSOLE, List.of("poll", "ppoll", "readv", "writev", "accept", "accept4", "socket", "bind",
                    "epoll_wait", "epoll_ctl", "epoll_create1", "shutdown", "ioctl"),
            ThreadKind.TIMER, List.of()));

    private PerKindAllowLists() {}

    /** Which kinds' lists were measured (the rest are derived from code). */
    public static boolean measured(ThreadKind kind) {
        return kind == ThreadKind.CONTROL;
    }

    /** The allow-lists of every kind, as system-call names. */
    public static Map<ThreadKind, List<String>> names() {
        Map<ThreadKind, List<String>> m = new EnumMap<>(ThreadKind.class);
        for (ThreadKind k : ThreadKind.values()) {
            List<String> own = k == ThreadKind.CONTROL
                    ? java.util.stream.Stream.concat(CONTROL_MEASURED.stream(), CONTROL_DERIVED.stream()).toList()
                    : DERIVED.getOrDefault(k, List.of());
            m.put(k, java.util.stream.Stream.concat(JVM_THREAD.stream(), own.stream()).distinct().sorted().toList());
        }
        return m;
    }

    /** The filters, ready to {@link ThreadKindFilters#register register}. */
    public static ThreadKindFilters filters() {
        ThreadKindFilters f = new ThreadKindFilters();
        names().forEach((kind, list) -> f.allow(kind, list.stream().mapToInt(Syscalls::number).toArray()));
        return f;
    }
}
