package dev.vmm.sandbox;

import java.util.Map;
import java.util.Optional;

/**
 * x86_64 system call numbers by name, for the filters (the kernel's numbering is per architecture;
 * filters check the architecture first). Checked against {@code <sys/syscall.h>} by
 * {@code SeccompHeaderProbeTest}.
 */
public final class Syscalls {
    private static final Map<String, Integer> X86_64 = Map.ofEntries(
            Map.entry("read", 0), Map.entry("write", 1), Map.entry("open", 2), Map.entry("close", 3),
            Map.entry("getpid", 39), Map.entry("gettid", 186),
            Map.entry("clone", 56), Map.entry("fork", 57), Map.entry("vfork", 58), Map.entry("execve", 59),
            Map.entry("execveat", 322), Map.entry("clone3", 435),
            Map.entry("ptrace", 101), Map.entry("personality", 135),
            Map.entry("setuid", 105), Map.entry("setgid", 106), Map.entry("setreuid", 113), Map.entry("setregid", 114),
            Map.entry("setgroups", 116), Map.entry("setresuid", 117), Map.entry("setresgid", 119),
            Map.entry("setfsuid", 122), Map.entry("setfsgid", 123), Map.entry("capset", 126),
            Map.entry("chroot", 161), Map.entry("chdir", 80), Map.entry("getresuid", 118), Map.entry("getresgid", 120),
            Map.entry("sched_setparam", 142), Map.entry("sched_setscheduler", 144), Map.entry("setpriority", 141),
            Map.entry("sched_setaffinity", 203), Map.entry("sched_setattr", 314),
            Map.entry("uselib", 134), Map.entry("ustat", 136), Map.entry("sysfs", 139), Map.entry("_sysctl", 156),
            Map.entry("create_module", 174), Map.entry("get_kernel_syms", 177), Map.entry("query_module", 178),
            Map.entry("nfsservctl", 180), Map.entry("getpmsg", 181), Map.entry("putpmsg", 182),
            Map.entry("afs_syscall", 183), Map.entry("tuxcall", 184), Map.entry("security", 185), Map.entry("vserver", 236),
            Map.entry("pivot_root", 155), Map.entry("mount", 165), Map.entry("umount2", 166),
            Map.entry("swapon", 167), Map.entry("swapoff", 168), Map.entry("reboot", 169),
            Map.entry("iopl", 172), Map.entry("ioperm", 173),
            Map.entry("init_module", 175), Map.entry("delete_module", 176), Map.entry("finit_module", 313),
            Map.entry("kexec_load", 246), Map.entry("kexec_file_load", 320),
            Map.entry("add_key", 248), Map.entry("request_key", 249), Map.entry("keyctl", 250),
            Map.entry("unshare", 272), Map.entry("setns", 308), Map.entry("process_vm_writev", 311),
            Map.entry("bpf", 321), Map.entry("userfaultfd", 323),
            Map.entry("open_tree", 428), Map.entry("move_mount", 429), Map.entry("fsopen", 430),
            Map.entry("fsconfig", 431), Map.entry("fsmount", 432), Map.entry("fspick", 433),
            Map.entry("mount_setattr", 442),
            // the per-thread-kind allow-lists (PerKindAllowLists)
            Map.entry("accept", 43), Map.entry("accept4", 288), Map.entry("bind", 49), Map.entry("brk", 12), Map.entry("clock_gettime", 228),
            Map.entry("clock_nanosleep", 230), Map.entry("connect", 42), Map.entry("dup", 32), Map.entry("dup2", 33), Map.entry("dup3", 292),
            Map.entry("epoll_create1", 291), Map.entry("epoll_ctl", 233), Map.entry("epoll_pwait", 281), Map.entry("epoll_wait", 232), Map.entry("eventfd2", 290),
            Map.entry("exit", 60), Map.entry("exit_group", 231), Map.entry("fallocate", 285), Map.entry("fcntl", 72), Map.entry("fdatasync", 75),
            Map.entry("fstat", 5), Map.entry("fsync", 74), Map.entry("ftruncate", 77), Map.entry("futex", 202), Map.entry("getdents64", 217),
            Map.entry("getrandom", 318), Map.entry("getsockname", 51), Map.entry("getsockopt", 55), Map.entry("io_uring_enter", 426), Map.entry("io_uring_register", 427),
            Map.entry("io_uring_setup", 425), Map.entry("ioctl", 16), Map.entry("lseek", 8), Map.entry("madvise", 28), Map.entry("mmap", 9),
            Map.entry("mprotect", 10), Map.entry("munmap", 11), Map.entry("nanosleep", 35), Map.entry("newfstatat", 262), Map.entry("openat", 257),
            Map.entry("poll", 7), Map.entry("ppoll", 271), Map.entry("prctl", 157), Map.entry("pread64", 17), Map.entry("preadv", 295),
            Map.entry("pwrite64", 18), Map.entry("pwritev", 296), Map.entry("readlink", 89), Map.entry("readv", 19), Map.entry("recvfrom", 45),
            Map.entry("recvmsg", 47), Map.entry("restart_syscall", 219), Map.entry("rseq", 334), Map.entry("rt_sigaction", 13), Map.entry("rt_sigprocmask", 14),
            Map.entry("rt_sigreturn", 15), Map.entry("sched_getaffinity", 204), Map.entry("sched_yield", 24), Map.entry("sendmsg", 46), Map.entry("sendto", 44),
            Map.entry("set_robust_list", 273), Map.entry("setsockopt", 54), Map.entry("shutdown", 48), Map.entry("socket", 41), Map.entry("stat", 4),
            Map.entry("statx", 332), Map.entry("sysinfo", 99), Map.entry("tgkill", 234), Map.entry("writev", 20), Map.entry("getuid", 102),
            Map.entry("geteuid", 107), Map.entry("access", 21), Map.entry("lstat", 6),
            Map.entry("unlink", 87), Map.entry("unlinkat", 263), Map.entry("rename", 82), Map.entry("renameat", 264),
            Map.entry("renameat2", 316), Map.entry("fchmod", 91), Map.entry("socketpair", 53));

    private Syscalls() {}

    /** The number of {@code name} on x86_64. */
    public static int number(String name) {
        Integer nr = X86_64.get(name);
        if (nr == null) throw new IllegalArgumentException("no x86_64 system call named " + name + " in the table");
        return nr;
    }

    /** The name of {@code nr}, if the table has it (for messages). */
    public static Optional<String> name(int nr) {
        return X86_64.entrySet().stream().filter(e -> e.getValue() == nr).map(Map.Entry::getKey).findFirst();
    }

    public static Map<String, Integer> table() {
        return X86_64;
    }
}
