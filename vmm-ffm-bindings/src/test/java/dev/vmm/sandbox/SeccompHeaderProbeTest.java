package dev.vmm.sandbox;

import dev.vmm.ffm.CProbe;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The syscall table, seccomp/BPF constants and struct layouts against the system headers. */
class SeccompHeaderProbeTest {
    @Test
    void tableConstantsAndLayoutsMatchTheHeaders() throws Exception {
        assumeTrue(CProbe.gccAvailable(), "gcc is needed to compile the header probe");
        CProbe probe = new CProbe("sys/syscall.h", "linux/seccomp.h", "linux/filter.h", "linux/audit.h", "linux/sched.h");
        probe.struct(Seccomp.SOCK_FILTER).struct(Seccomp.SOCK_FPROG).struct(SeccompData.LAYOUT);
        Syscalls.table().forEach((name, nr) -> probe.constant("SYS_" + name, nr));
        Map.ofEntries(
                Map.entry("SECCOMP_SET_MODE_FILTER", Seccomp.SECCOMP_SET_MODE_FILTER),
                Map.entry("SECCOMP_FILTER_FLAG_TSYNC", Seccomp.SECCOMP_FILTER_FLAG_TSYNC),
                Map.entry("SECCOMP_FILTER_FLAG_LOG", Seccomp.SECCOMP_FILTER_FLAG_LOG),
                Map.entry("SECCOMP_RET_KILL_PROCESS", Seccomp.RET_KILL_PROCESS),
                Map.entry("SECCOMP_RET_KILL_THREAD", Seccomp.RET_KILL_THREAD),
                Map.entry("SECCOMP_RET_TRAP", Seccomp.RET_TRAP),
                Map.entry("SECCOMP_RET_ERRNO", Seccomp.RET_ERRNO),
                Map.entry("SECCOMP_RET_LOG", Seccomp.RET_LOG),
                Map.entry("SECCOMP_RET_ALLOW", Seccomp.RET_ALLOW),
                Map.entry("SECCOMP_RET_DATA", Seccomp.RET_DATA),
                Map.entry("AUDIT_ARCH_X86_64", Seccomp.AUDIT_ARCH_X86_64),
                Map.entry("__X32_SYSCALL_BIT", Seccomp.X32_SYSCALL_BIT),
                Map.entry("CLONE_THREAD", ProcessFilter.CLONE_THREAD),
                Map.entry("BPF_MAXINSNS", Bpf.MAX_INSNS),
                Map.entry("BPF_LD", Bpf.BPF_LD), Map.entry("BPF_JMP", Bpf.BPF_JMP), Map.entry("BPF_RET", Bpf.BPF_RET),
                Map.entry("BPF_W", Bpf.BPF_W), Map.entry("BPF_ABS", Bpf.BPF_ABS), Map.entry("BPF_K", Bpf.BPF_K),
                Map.entry("BPF_JEQ", Bpf.BPF_JEQ), Map.entry("BPF_JGE", Bpf.BPF_JGE), Map.entry("BPF_JGT", Bpf.BPF_JGT),
                Map.entry("BPF_JSET", Bpf.BPF_JSET),
                Map.entry("offsetof(struct seccomp_data, args[2]) + 0", SeccompData.argLow(2)))
                .forEach((name, v) -> probe.constant(name, Integer.toUnsignedLong(v)));
        Map<String, Long> c = probe.run();
        assertThat(probe.expected()).containsExactlyInAnyOrderEntriesOf(c);
    }
}
