package dev.vmm.sandbox;

import dev.vmm.ffm.libc.Errno;

import java.util.List;

/**
 * The process-wide layer: a deny-list installed on every thread (JVM threads included) once the
 * machine holds everything privileged it needs. What is denied is what a VMM never does after
 * start-up and what an attacker who took over a thread would want first, grouped as QEMU's
 * {@code -sandbox} option groups them; everything else is allowed. See docs/sandbox.md.
 *
 * <ul>
 * <li>{@link #OBSOLETE}, {@link #ELEVATE_PRIVILEGES}, {@link #SPAWN}, {@link #HOST_ADMIN}: the
 *     {@code dangerous} action (kill the process by default: no legitimate path of the VMM or the
 *     JVM reaches them once the machine runs, so a call is a compromise, and a dead process is the
 *     only answer an attacker cannot retry around);</li>
 * <li>{@code clone} is allowed only with CLONE_THREAD (a new thread), so fork through any door is
 *     denied; {@code clone3} answers ENOSYS, its flags sit in memory a filter cannot read, and glibc
 *     falls back to {@code clone} on ENOSYS;</li>
 * <li>{@link #RESOURCE_CONTROL} on another process or thread (pid/who argument not 0) answers
 *     EPERM: the JVM may try them, and an error is something it already handles.</li>
 * </ul>
 */
public final class ProcessFilter {
    public static final List<String> OBSOLETE = List.of("uselib", "ustat", "sysfs", "_sysctl", "create_module",
            "get_kernel_syms", "query_module", "nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall",
            "security", "vserver");
    public static final List<String> ELEVATE_PRIVILEGES = List.of("setuid", "setgid", "setreuid", "setregid",
            "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capset");
    /** Spawning a program; fork is here, clone/clone3 are handled by their flags. */
    public static final List<String> SPAWN = List.of("execve", "execveat", "fork", "vfork");
    public static final List<String> HOST_ADMIN = List.of("mount", "umount2", "open_tree", "move_mount", "fsopen",
            "fsconfig", "fsmount", "fspick", "mount_setattr", "pivot_root", "swapon", "swapoff",
            "ptrace", "process_vm_writev", "kexec_load", "kexec_file_load", "bpf",
            "init_module", "finit_module", "delete_module", "reboot", "keyctl", "add_key", "request_key",
            "userfaultfd", "personality", "iopl", "ioperm", "unshare", "setns");
    /** Checked on argument 0 (pid); setpriority is checked on argument 1 (who). */
    public static final List<String> RESOURCE_CONTROL = List.of("sched_setaffinity", "sched_setscheduler",
            "sched_setparam", "sched_setattr");

    /** CLONE_THREAD of linux/sched.h. */
    public static final int CLONE_THREAD = 0x00010000;

    private ProcessFilter() {}

    /** The filter with {@link Seccomp#RET_KILL_PROCESS} for the dangerous classes. */
    public static List<Bpf.Insn> program() {
        return program(Seccomp.RET_KILL_PROCESS);
    }

    /**
     * The filter; {@code dangerous} is the answer to the deny classes (RET_KILL_PROCESS, or an
     * ERRNO for a logging/measuring run).
     */
    public static List<Bpf.Insn> program(int dangerous) {
        Bpf p = new Bpf();
        p.load(SeccompData.ARCH).jeq(Seccomp.AUDIT_ARCH_X86_64, null, "kill");
        p.load(SeccompData.NR).jge(Seccomp.X32_SYSCALL_BIT, "kill", null);
        for (List<String> group : List.of(OBSOLETE, ELEVATE_PRIVILEGES, SPAWN, HOST_ADMIN))
            for (String name : group) p.jeq(Syscalls.number(name), "deny", null);
        p.jeq(Syscalls.number("clone"), "clone", null);
        p.jeq(Syscalls.number("clone3"), "enosys", null);
        for (String name : RESOURCE_CONTROL) p.jeq(Syscalls.number(name), "pid0", null);
        p.jeq(Syscalls.number("setpriority"), "who1", null);
        p.ret(Seccomp.RET_ALLOW);
        // clone(flags, ...): a thread shares everything; anything else is a new process.
        p.label("clone").load(SeccompData.argLow(0)).jset(CLONE_THREAD, "allow", "deny");
        // Resource control on the caller itself (pid/who 0) only; ids are 32-bit.
        p.label("pid0").load(SeccompData.argLow(0)).jeq(0, "allow", "eperm");
        p.label("who1").load(SeccompData.argLow(1)).jeq(0, "allow", "eperm");
        p.label("allow").ret(Seccomp.RET_ALLOW);      // jumps only go forward: the checks' own exit
        p.label("eperm").ret(Seccomp.errno(Errno.EPERM));
        p.label("enosys").ret(Seccomp.errno(Errno.ENOSYS));
        p.label("deny").ret(dangerous);
        p.label("kill").ret(Seccomp.RET_KILL_PROCESS);
        return p.assemble();
    }

    /** Installs the filter on every thread of the process (TSYNC). */
    public static void install() {
        Seccomp.install(program(), Seccomp.SECCOMP_FILTER_FLAG_TSYNC);
    }
}
