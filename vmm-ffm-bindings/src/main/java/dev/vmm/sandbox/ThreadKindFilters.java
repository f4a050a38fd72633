package dev.vmm.sandbox;

import dev.vmm.ffm.libc.Errno;
import dev.vmm.threads.ThreadKind;
import dev.vmm.threads.VmmThreads;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The per-thread-kind layer: an allow-list of system call numbers per {@link ThreadKind},
 * installed by each new thread of that kind on itself (through {@link VmmThreads#onStart}) before
 * its work starts, on top of the process-wide layer.
 *
 * <p>OFF unless a caller enables it: the lists must be measured on a KVM host with the guest
 * suite ({@code strace -f -c} per thread kind, docs/sandbox.md), and none has been. {@link Mode#LOG}
 * is the measuring mode: calls outside the list are allowed and logged by the kernel (audit /
 * dmesg "type=1326"), so a list can be grown without killing anything.
 */
public final class ThreadKindFilters {
    public enum Mode {
        /** No per-kind filter (the default). */
        OFF,
        /** Allow everything, log what is outside the list (SECCOMP_RET_LOG). */
        LOG,
        /** Calls outside the list fail with EPERM. */
        ENFORCE
    }

    /** Compares per chunk: well under the 255 a classic BPF jump can reach. */
    static final int CHUNK = 200;

    private final Map<ThreadKind, Set<Integer>> allowed = new EnumMap<>(ThreadKind.class);

    /** Adds system calls (numbers) to the allow-list of {@code kind}. */
    public ThreadKindFilters allow(ThreadKind kind, int... numbers) {
        Set<Integer> s = allowed.computeIfAbsent(kind, k -> new TreeSet<>());
        for (int n : numbers) {
            if (n < 0 || n >= Seccomp.X32_SYSCALL_BIT) throw new IllegalArgumentException("system call number " + n);
            s.add(n);
        }
        return this;
    }

    public Set<Integer> allowed(ThreadKind kind) {
        return Set.copyOf(allowed.getOrDefault(kind, Set.of()));
    }

    /** The program of {@code kind}: its list allowed, the rest answered by {@code mode}. */
    public List<Bpf.Insn> program(ThreadKind kind, Mode mode) {
        if (mode == Mode.OFF) throw new IllegalArgumentException("no program when OFF");
        Bpf p = new Bpf();
        // the kill first: a jump to the end could be farther than 255
        p.load(SeccompData.ARCH).jeq(Seccomp.AUDIT_ARCH_X86_64, "x86_64", null).ret(Seccomp.RET_KILL_PROCESS);
        p.label("x86_64").load(SeccompData.NR);
        // Jumps are 8-bit: the list goes in chunks, each with its own "allow" right after it; the
        // last compare of a chunk jumps over that return to the next chunk when it does not match.
        List<Integer> nrs = List.copyOf(allowed.getOrDefault(kind, Set.of()));
        for (int start = 0, chunk = 0; start < nrs.size(); start += CHUNK, chunk++) {
            int end = Math.min(start + CHUNK, nrs.size());
            for (int i = start; i < end - 1; i++) p.jeq(nrs.get(i), "allow" + chunk, null);
            p.jeq(nrs.get(end - 1), "allow" + chunk, "next" + chunk);
            p.label("allow" + chunk).ret(Seccomp.RET_ALLOW);
            p.label("next" + chunk);
        }
        p.ret(mode == Mode.LOG ? Seccomp.RET_LOG : Seccomp.errno(Errno.EPERM));
        return p.assemble();
    }

    /**
     * Registers, for every kind with a list, an initializer that installs its program on each new
     * thread of that kind. With OFF nothing is registered.
     */
    public void register(Mode mode) {
        if (mode == Mode.OFF) return;
        for (ThreadKind kind : allowed.keySet()) {
            List<Bpf.Insn> prog = program(kind, mode);
            VmmThreads.onStart(kind, k -> Seccomp.install(prog, 0));
        }
    }
}
