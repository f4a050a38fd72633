package dev.vmm.sandbox;

import dev.vmm.ffm.libc.Errno;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The filters installed for real, each in a child JVM ({@link SandboxChild}) that then attempts a
 * forbidden or an allowed call; the kernel's seccomp is the oracle. A kill shows as status 159
 * (128 + SIGSYS), with nothing printed after INSTALLED.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@Execution(ExecutionMode.SAME_THREAD)
class SandboxChildTest {
    static final int SIGSYS_STATUS = 128 + 31;

    record Outcome(int status, String out) {
        boolean installed() { return out.contains("INSTALLED seccomp=2"); }
        String result() {
            int i = out.indexOf("RESULT ");
            return i < 0 ? null : out.substring(i + 7).strip();
        }
    }

    static Outcome child(String filter, String action) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                SandboxChild.class.getName(), filter, action)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Outcome(p.exitValue(), out);
    }

    static void assertKilled(String action) throws Exception {
        Outcome o = child("kill", action);
        assertThat(o.installed()).as(o.out()).isTrue();
        assertThat(o.status()).as(o.out()).isEqualTo(SIGSYS_STATUS);
        assertThat(o.result()).as(o.out()).isNull();
    }

    @Test
    void execveKillsTheProcess() throws Exception {
        assertKilled("execve");
    }

    @Test
    void execveWithoutAFilterReallyExecs() throws Exception {
        // the control: the same child without a filter becomes /bin/true (status 0, no RESULT)
        Outcome o = child("none", "execve");
        assertThat(o.out()).contains("INSTALLED seccomp=0");
        assertThat(o.status()).isZero();
        assertThat(o.result()).isNull();
    }

    @Test
    void forkAndCloneWithoutThreadKill() throws Exception {
        assertKilled("fork");
        assertKilled("clone-fork");
    }

    @Test
    void processBuilderKills() throws Exception {
        // what the JVM does under SIGSYS: KILL_PROCESS cannot be caught, no hs_err, no shutdown hook
        assertKilled("process");
    }

    @Test
    void ptraceMountSetuidKill() throws Exception {
        assertKilled("ptrace");
        assertKilled("mount");
        assertKilled("setuid");
    }

    @Test
    void clone3AnswersEnosysSoLibcFallsBack() throws Exception {
        Outcome o = child("kill", "clone3");
        assertThat(o.status()).as(o.out()).isZero();
        assertThat(o.result()).isEqualTo("" + -Errno.ENOSYS);
    }

    @Test
    void affinityOfAnotherProcessIsEperm() throws Exception {
        Outcome o = child("kill", "affinity-other");
        assertThat(o.status()).as(o.out()).isZero();
        assertThat(o.result()).isEqualTo("" + -Errno.EPERM);
    }

    @Test
    void errnoVariantLetsTheJvmReport() throws Exception {
        Outcome ex = child("eperm", "execve");
        assertThat(ex.status()).as(ex.out()).isZero();
        assertThat(ex.result()).isEqualTo("" + -Errno.EPERM);
        Outcome pb = child("eperm", "process");
        assertThat(pb.status()).as(pb.out()).isZero();
        assertThat(pb.result()).as(pb.out()).startsWith("IOException");
    }

    @Test
    void perKindFilterIsInstalledByTheThreadsOfItsKindOnly() throws Exception {
        Outcome o = child("none", "per-kind");
        assertThat(o.status()).as(o.out()).isZero();
        assertThat(o.result()).isEqualTo("io-seccomp=2 io-execve=" + -Errno.EPERM + " main-seccomp=0");
    }

    @Test
    void strictListsAllowEachKindsWorkAndRefuseTheRest() throws Exception {
        // --sandbox strict (PerKindAllowLists): what a kind does works, a call outside its list gets EPERM
        Outcome o = child("none", "strict");
        assertThat(o.status()).as(o.out()).isZero();
        assertThat(o.result()).as(o.out()).isEqualTo("control-seccomp=2 control-work=ok-socket control-pid=true control-mount="
                + -Errno.EPERM + " io-uring=ok io-socket=" + -Errno.EPERM + " main-seccomp=0");
    }

    @Test
    void trapIsNoBetterTheJvmHasNoSigsysHandler() throws Exception {
        // RET_TRAP raises SIGSYS with si_syscall for a handler to read; HotSpot installs none, so the
        // default action ends the process exactly like KILL_PROCESS, with no line and no hs_err.
        Outcome o = child("trap", "execve");
        assertThat(o.installed()).as(o.out()).isTrue();
        assertThat(o.status()).as(o.out()).isEqualTo(SIGSYS_STATUS);
        assertThat(o.result()).isNull();
    }

    @Test
    void ordinaryJvmActivityWorksUnderTheFilter() throws Exception {
        Outcome none = child("none", "allowed");
        Outcome o = child("kill", "allowed");
        assertThat(o.installed()).as(o.out()).isTrue();
        assertThat(o.status()).as(o.out()).isZero();
        assertThat(o.result()).startsWith("threads=" + 4 * 500500 + " file=hello pid=true");
        // io_uring works under the filter exactly when it works without it
        assertThat(o.result()).isEqualTo(none.result());
    }
}
