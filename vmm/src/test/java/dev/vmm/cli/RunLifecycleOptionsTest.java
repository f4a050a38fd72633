package dev.vmm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code --on-panic} and {@code --no-shutdown} are checked before anything is built (no KVM needed). */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RunLifecycleOptionsTest {
    private static RunCommand parse(String... args) {
        RunCommand r = new RunCommand();
        new CommandLine(r).parseArgs(args);
        return r;
    }

    @Test
    void defaultPanicPolicyIsExit() {
        assertThat(parse().onPanic).isEqualTo("exit");
        assertThat(parse().noShutdown).isFalse();
    }

    @Test
    void badPanicPolicyIsAUsageError() {
        assertThatThrownBy(() -> parse("--on-panic", "reboot").call()).isInstanceOf(UsageException.class)
                .hasMessage("--on-panic takes exit, pause or dump=PATH, not 'reboot'");
        assertThatThrownBy(() -> parse("--on-panic", "dump=").call()).isInstanceOf(UsageException.class);
    }

    @Test
    void noShutdownNeedsQmp() {
        assertThatThrownBy(() -> parse("--no-shutdown").call()).isInstanceOf(UsageException.class)
                .hasMessageContaining("--no-shutdown needs --qmp");
    }

    @Test
    void goodLifecycleOptionsPassTheDryRun() {
        assertThat(parse("--dry-run", "--on-panic", "dump=/tmp/guest.core", "--no-shutdown", "--qmp", "unix:/tmp/x.sock").call()).isZero();
        assertThat(parse("--dry-run", "--on-panic", "pause").call()).isZero();
    }
}
