package dev.vmm.lifecycle;

import dev.vmm.vcpu.VmExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LifecycleTest {
    record Event(String name, Map<String, Object> data) {}

    private final Lifecycle life = new Lifecycle();
    private final List<Event> events = new ArrayList<>();

    LifecycleTest() {
        life.addSink((n, d) -> events.add(new Event(n, d)));
    }

    private static Map<String, Object> shutdown(boolean guest, String reason) {
        return Map.of("guest", guest, "reason", reason);
    }

    @Test
    void eachExitKindHasItsShutdownReason() {
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null))).isEqualTo(ShutdownCause.GUEST_SHUTDOWN);
        assertThat(ShutdownCause.of(VmExit.guestExit(3))).isEqualTo(ShutdownCause.GUEST_SHUTDOWN);
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null))).isEqualTo(ShutdownCause.GUEST_RESET);
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.RESET, 0, "reset requested over QMP", null))).isEqualTo(ShutdownCause.HOST_QMP_SYSTEM_RESET);
        assertThat(ShutdownCause.of(VmExit.failure("vCPU 0: triple fault", null))).isEqualTo(ShutdownCause.GUEST_RESET);
        assertThat(ShutdownCause.of(VmExit.pvpanic("pvpanic", 1))).isEqualTo(ShutdownCause.GUEST_PANIC);
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.VMM_ERROR, 125, "x", null))).isEqualTo(ShutdownCause.HOST_ERROR);
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.STOPPED, 0, "quit requested over QMP", null))).isEqualTo(ShutdownCause.HOST_QMP_QUIT);
        assertThat(ShutdownCause.of(new VmExit(VmExit.Kind.HOST_SIGNAL, 0, "stopped by signal", null))).isEqualTo(ShutdownCause.HOST_SIGNAL);
        for (VmExit.Kind k : VmExit.Kind.values()) assertThat(ShutdownCause.of(new VmExit(k, 0, "r", null))).isNotNull();
    }

    @Test
    void pvpanicBitsDecidePanicOrCrashLoaded() {
        VmExit p = VmExit.pvpanic("pvpanic", 3);
        assertThat(p.kind()).isEqualTo(VmExit.Kind.GUEST_PANIC);
        assertThat(p.status()).isEqualTo(VmExit.FAILURE_STATUS);
        assertThat(p.reason()).isEqualTo("guest kernel panicked (pvpanic event 0x3)");
        VmExit c = VmExit.pvpanic("pvpanic-pci", 2);
        assertThat(c.kind()).isEqualTo(VmExit.Kind.GUEST_CRASHLOADED);
        assertThat(c.status()).isZero();
    }

    @Test
    void acpiPowerOffIsAGuestShutdown() {
        life.states().transition(RunState.RUNNING);
        life.ended(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null), false);
        assertThat(events).containsExactly(new Event("SHUTDOWN", shutdown(true, "guest-shutdown")));
        assertThat(life.state()).isEqualTo(RunState.RUNNING); // the process ends: no --no-shutdown
    }

    @Test
    void resetWithRebootIsAResetEventNotAShutdown() {
        life.states().transition(RunState.RUNNING);
        life.ended(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null), true);
        assertThat(events).containsExactly(new Event("RESET", shutdown(true, "guest-reset")));
    }

    @Test
    void stopAndContEmitStopAndResumeOnlyWhenTheStateChanges() {
        life.paused(); // prelaunch: QEMU's stop does nothing there
        assertThat(events).isEmpty();
        assertThat(life.state()).isEqualTo(RunState.PRELAUNCH);
        life.resumed();
        life.paused();
        life.paused();
        life.resumed();
        assertThat(events).extracting(Event::name).containsExactly("RESUME", "STOP", "RESUME");
        assertThat(events).allSatisfy(e -> assertThat(e.data()).isEmpty());
        assertThat(life.state()).isEqualTo(RunState.RUNNING);
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void noShutdownStaysInShutdownUntilQuit() throws Exception {
        life.noShutdown(true);
        life.states().transition(RunState.RUNNING);
        ShutdownCause c = life.ended(new VmExit(VmExit.Kind.POWER_OFF, 0, "off", null), false);
        assertThat(life.staysAfter(c)).isTrue();
        assertThat(life.state()).isEqualTo(RunState.SHUTDOWN);
        CompletableFuture<ShutdownCause> waiter = CompletableFuture.supplyAsync(life::awaitQuit);
        assertThat(waiter).isNotDone();
        life.requestQuit(ShutdownCause.HOST_QMP_QUIT);
        assertThat(waiter.get(5, TimeUnit.SECONDS)).isEqualTo(ShutdownCause.HOST_QMP_QUIT);
        assertThat(events).containsExactly(new Event("SHUTDOWN", shutdown(true, "guest-shutdown")), new Event("STOP", Map.of()),
                new Event("SHUTDOWN", shutdown(false, "host-qmp-quit")));
    }

    /**
     * A QMP client that reads an event and then asks {@code query-status} must find the state the
     * event announces: QEMU changes the run state before it sends STOP (after {@code stop}, after
     * GUEST_PANICKED under --on-panic pause), and under -no-shutdown its main loop sends SHUTDOWN
     * and STOP and changes the state before it reads the next command.
     */
    @Test
    void theStateHasChangedWhenStopIsSent() {
        List<String> seen = new ArrayList<>();
        life.addSink((name, data) -> seen.add(name + " " + life.state().qapiName()));
        life.noShutdown(true);
        life.states().transition(RunState.RUNNING);
        life.paused();
        life.resumed();
        life.ended(new VmExit(VmExit.Kind.POWER_OFF, 0, "off", null), false);
        assertThat(seen).containsExactly("STOP paused", "RESUME running", "SHUTDOWN shutdown", "STOP shutdown");

        Lifecycle panicking = new Lifecycle();
        List<String> panicSeen = new ArrayList<>();
        panicking.addSink((name, data) -> panicSeen.add(name + " " + panicking.state().qapiName()));
        panicking.panicPolicy(PanicPolicy.parse("pause"));
        panicking.states().transition(RunState.RUNNING);
        panicking.panicked();
        assertThat(panicSeen).containsExactly("GUEST_PANICKED running", "STOP guest-panicked");
    }

    @Test
    void hostCausedEndsDoNotStayEvenWithNoShutdown() {
        life.noShutdown(true);
        life.states().transition(RunState.RUNNING);
        ShutdownCause c = life.ended(new VmExit(VmExit.Kind.HOST_SIGNAL, 0, "stopped by signal", null), false);
        assertThat(life.staysAfter(c)).isFalse();
        assertThat(life.state()).isEqualTo(RunState.RUNNING);
        assertThat(events).containsExactly(new Event("SHUTDOWN", shutdown(false, "host-signal")));
    }

    @Test
    void panicUnderPauseIsGuestPanickedAndContRuns() {
        life.panicPolicy(PanicPolicy.parse("pause"));
        life.states().transition(RunState.RUNNING);
        life.panicked();
        assertThat(life.state()).isEqualTo(RunState.GUEST_PANICKED);
        assertThat(events).containsExactly(new Event("GUEST_PANICKED", Map.of("action", "pause")), new Event("STOP", Map.of()));
        life.resumed();
        assertThat(life.state()).isEqualTo(RunState.RUNNING);
    }

    @Test
    void panicUnderExitIsPoweroffThenShutdownGuestPanic() {
        life.states().transition(RunState.RUNNING);
        life.panicked();
        life.ended(VmExit.pvpanic("pvpanic", 1), false);
        assertThat(events).containsExactly(new Event("GUEST_PANICKED", Map.of("action", "poweroff")),
                new Event("SHUTDOWN", shutdown(true, "guest-panic")));
    }

    @Test
    void crashLoadedIsAnnouncedAndTheGuestRuns() {
        life.states().transition(RunState.RUNNING);
        life.crashLoaded();
        assertThat(events).containsExactly(new Event("GUEST_CRASHLOADED", Map.of("action", "run")));
        assertThat(life.state()).isEqualTo(RunState.RUNNING);
    }

    @Test
    void panicPolicyParsing() {
        assertThat(PanicPolicy.parse("exit")).isEqualTo(PanicPolicy.EXIT);
        assertThat(PanicPolicy.parse("pause").kind()).isEqualTo(PanicPolicy.Kind.PAUSE);
        assertThat(PanicPolicy.parse("dump=/tmp/x.core").dumpPath()).isEqualTo(Path.of("/tmp/x.core"));
        for (String bad : new String[] {"", "dump=", "dump", "poweroff", "EXIT"}) {
            assertThatThrownBy(() -> PanicPolicy.parse(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--on-panic takes exit, pause or dump=PATH");
        }
    }
}
