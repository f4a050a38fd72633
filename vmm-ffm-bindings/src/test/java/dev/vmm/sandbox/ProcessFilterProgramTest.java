package dev.vmm.sandbox;

import dev.vmm.ffm.libc.Errno;
import dev.vmm.threads.ThreadKind;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.vmm.sandbox.BpfInterpreter.record;
import static dev.vmm.sandbox.BpfInterpreter.run;
import static org.assertj.core.api.Assertions.assertThat;

/** The filters' programs evaluated on seccomp_data records by the test interpreter. */
class ProcessFilterProgramTest {
    private static final int X86_64 = Seccomp.AUDIT_ARCH_X86_64;
    private final List<Bpf.Insn> prog = ProcessFilter.program();

    private int verdict(String name, long... args) {
        return run(prog, record(Syscalls.number(name), X86_64, args));
    }

    @Test
    void everyDeniedClassKills() {
        for (List<String> g : List.of(ProcessFilter.OBSOLETE, ProcessFilter.ELEVATE_PRIVILEGES, ProcessFilter.SPAWN, ProcessFilter.HOST_ADMIN))
            for (String name : g) assertThat(verdict(name)).as(name).isEqualTo(Seccomp.RET_KILL_PROCESS);
    }

    @Test
    void ordinaryCallsAreAllowed() {
        for (String name : List.of("read", "write", "open", "close", "getpid", "gettid"))
            assertThat(verdict(name)).as(name).isEqualTo(Seccomp.RET_ALLOW);
        // numbers the table does not even know (futex 202, io_uring_enter 426, a future call 500)
        for (int nr : new int[] {202, 426, 500})
            assertThat(run(prog, record(nr, X86_64))).isEqualTo(Seccomp.RET_ALLOW);
    }

    @Test
    void cloneIsAThreadOrNothing() {
        long pthreadFlags = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
        assertThat(verdict("clone", pthreadFlags)).isEqualTo(Seccomp.RET_ALLOW);
        assertThat(verdict("clone", 17)).isEqualTo(Seccomp.RET_KILL_PROCESS);            // fork(): SIGCHLD
        assertThat(verdict("clone", 0x4111)).isEqualTo(Seccomp.RET_KILL_PROCESS);        // posix_spawn: VM|VFORK|SIGCHLD
        assertThat(verdict("clone3")).isEqualTo(Seccomp.errno(Errno.ENOSYS));
    }

    @Test
    void resourceControlOnlyOnSelf() {
        assertThat(verdict("sched_setaffinity", 0)).isEqualTo(Seccomp.RET_ALLOW);
        assertThat(verdict("sched_setaffinity", 1234)).isEqualTo(Seccomp.errno(Errno.EPERM));
        assertThat(verdict("sched_setscheduler", 1)).isEqualTo(Seccomp.errno(Errno.EPERM));
        assertThat(verdict("setpriority", 0, 0, 5)).isEqualTo(Seccomp.RET_ALLOW);
        assertThat(verdict("setpriority", 0, 99, 5)).isEqualTo(Seccomp.errno(Errno.EPERM));
    }

    @Test
    void otherArchitecturesAndX32AreKilled() {
        assertThat(run(prog, record(Syscalls.number("read"), 0x40000003))).isEqualTo(Seccomp.RET_KILL_PROCESS); // i386
        assertThat(run(prog, record(Seccomp.X32_SYSCALL_BIT | 0, X86_64))).isEqualTo(Seccomp.RET_KILL_PROCESS);
    }

    @Test
    void errnoVariantAnswersTheDangerousClassesWithTheErrno() {
        List<Bpf.Insn> p = ProcessFilter.program(Seccomp.errno(Errno.EPERM));
        assertThat(run(p, record(Syscalls.number("execve"), X86_64))).isEqualTo(Seccomp.errno(Errno.EPERM));
        assertThat(run(p, record(Syscalls.number("read"), 0x40000003))).isEqualTo(Seccomp.RET_KILL_PROCESS);
    }

    @Test
    void perKindProgramAllowsItsListOnly() {
        ThreadKindFilters f = new ThreadKindFilters().allow(ThreadKind.VCPU, 0, 1, 16);
        List<Bpf.Insn> enforce = f.program(ThreadKind.VCPU, ThreadKindFilters.Mode.ENFORCE);
        List<Bpf.Insn> log = f.program(ThreadKind.VCPU, ThreadKindFilters.Mode.LOG);
        assertThat(run(enforce, record(16, X86_64))).isEqualTo(Seccomp.RET_ALLOW);
        assertThat(run(enforce, record(2, X86_64))).isEqualTo(Seccomp.errno(Errno.EPERM));
        assertThat(run(log, record(2, X86_64))).isEqualTo(Seccomp.RET_LOG);
        assertThat(run(log, record(0, 3))).isEqualTo(Seccomp.RET_KILL_PROCESS);
        // a list longer than one 8-bit jump reaches: every number but execve
        ThreadKindFilters big = new ThreadKindFilters();
        for (int nr = 0; nr < 460; nr++) if (nr != 59) big.allow(ThreadKind.IO, nr);
        List<Bpf.Insn> bigProg = big.program(ThreadKind.IO, ThreadKindFilters.Mode.ENFORCE);
        for (int nr = 0; nr < 470; nr++)
            assertThat(run(bigProg, record(nr, X86_64))).as("nr %d", nr)
                    .isEqualTo(nr == 59 || nr >= 460 ? Seccomp.errno(Errno.EPERM) : Seccomp.RET_ALLOW);
        // an unmeasured kind allows nothing when enforced
        assertThat(run(f.program(ThreadKind.IO, ThreadKindFilters.Mode.ENFORCE), record(0, X86_64))).isEqualTo(Seccomp.errno(Errno.EPERM));
    }
}
