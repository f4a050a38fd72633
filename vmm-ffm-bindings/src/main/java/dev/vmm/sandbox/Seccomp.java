package dev.vmm.sandbox;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Installs a seccomp filter through FFM: {@code prctl(PR_SET_NO_NEW_PRIVS, 1)} (required of an
 * unprivileged process, and what keeps a later exec from regaining privileges), then
 * {@code seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)} through syscall(2) — glibc has no
 * wrapper. A filter cannot be removed; filters stack, and the most restrictive answer wins.
 */
public final class Seccomp {
    // linux/seccomp.h
    public static final int SECCOMP_SET_MODE_FILTER = 1;
    public static final int SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2;
    public static final int RET_KILL_PROCESS = 0x80000000, RET_KILL_THREAD = 0, RET_TRAP = 0x00030000,
            RET_ERRNO = 0x00050000, RET_LOG = 0x7ffc0000, RET_ALLOW = 0x7fff0000;
    public static final int RET_DATA = 0x0000ffff;
    // linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    public static final int AUDIT_ARCH_X86_64 = 0xC000003E;
    /** x32 system calls are x86_64 numbers with this bit set; the VMM never uses them. */
    public static final int X32_SYSCALL_BIT = 0x40000000;

    /** {@code struct sock_filter} of linux/filter.h. */
    public static final StructLayout SOCK_FILTER = MemoryLayout.structLayout(
            JAVA_SHORT.withName("code"), JAVA_BYTE.withName("jt"), JAVA_BYTE.withName("jf"),
            JAVA_INT.withName("k")).withName("sock_filter");
    /** {@code struct sock_fprog} of linux/filter.h. */
    public static final StructLayout SOCK_FPROG = MemoryLayout.structLayout(
            JAVA_SHORT.withName("len"), MemoryLayout.paddingLayout(6), ADDRESS.withName("filter")).withName("sock_fprog");

    private Seccomp() {}

    /** RET_ERRNO with {@code errno}. */
    public static int errno(int errno) {
        if (errno < 0 || errno > RET_DATA) throw new IllegalArgumentException("errno " + errno);
        return RET_ERRNO | errno;
    }

    /** The program as the kernel reads it: an array of sock_filter. */
    public static MemorySegment encode(List<Bpf.Insn> program, Arena arena) {
        MemorySegment s = arena.allocate(SOCK_FILTER, program.size());
        for (int i = 0; i < program.size(); i++) {
            Bpf.Insn in = program.get(i);
            long base = i * SOCK_FILTER.byteSize();
            s.set(JAVA_SHORT, base, (short) in.code());
            s.set(JAVA_BYTE, base + 2, (byte) in.jt());
            s.set(JAVA_BYTE, base + 3, (byte) in.jf());
            s.set(JAVA_INT, base + 4, in.k());
        }
        return s;
    }

    /**
     * Installs {@code program} on the calling thread, or with {@link #SECCOMP_FILTER_FLAG_TSYNC} on
     * every thread of the process.
     *
     * @throws NativeException when the kernel refuses (no seccomp, a bad program, or with TSYNC a
     *         thread that cannot be synchronised)
     */
    public static void install(List<Bpf.Insn> program, int flags) {
        Libc.prctl(Libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment filter = encode(program, a);
            MemorySegment fprog = a.allocate(SOCK_FPROG);
            fprog.set(JAVA_SHORT, 0, (short) program.size());
            // The pointer as the 64-bit integer it is on x86-64 (SOCK_FPROG's ADDRESS field): setting an
            // ADDRESS adapts a VarHandle at run time (IndirectVarHandle, LambdaForms) on every start (#19).
            fprog.set(JAVA_LONG, 8, filter.address());
            long r = Libc.seccompRaw(SECCOMP_SET_MODE_FILTER, flags, fprog);
            if (r < 0) throw new NativeException("seccomp(SECCOMP_SET_MODE_FILTER)", (int) -r);
            // With TSYNC a positive result is the id of a thread that could not be synchronised.
            if (r > 0) throw new IllegalStateException("seccomp TSYNC: thread " + r + " could not take the filter");
        }
    }

    /** The Seccomp: line of /proc/thread-self/status (0 none, 1 strict, 2 filter). */
    public static int mode() {
        try {
            for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/thread-self/status")))
                if (l.startsWith("Seccomp:")) return Integer.parseInt(l.substring(8).trim());
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
