package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.lifecycle.RunState;
import dev.vmm.lifecycle.ShutdownCause;
import dev.vmm.vcpu.VmExit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The run-state commands ({@link MachineCommands}: query-status, stop, cont, system_powerdown,
 * system_reset, quit) and their events over a real QMP socket, on a {@link KvmFreeMachine} (real
 * lifecycle, pc chipset with its ACPI PM block, machine exit; the vCPU layer played), each step
 * compared with QEMU 7.2 ({@code -machine pc,accel=tcg -S}) sent the same command at test time:
 * the same reply, the same event with the same data, the same state afterwards. The machine-side
 * effect is asserted too (vCPUs paused or not, the power button's status bit, how the run ended).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MachineCommandsTest {
    private static final long PWRBTN_STS = 1 << 8;

    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();

    private KvmFreeMachine machine(boolean startPaused, boolean reboot) {
        KvmFreeMachine m = new KvmFreeMachine(List.of());
        open.add(m);
        m.run(startPaused, reboot);
        return m;
    }

    /** The vCPU layer's view: what the diagnostics read. */
    record FakeVcpu(int id, long[] exitCounts, String registerDump) implements dev.vmm.vcpu.VcpuView { }

    private final List<FakeVcpu> vcpus = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<Path> snapshots = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile String snapshotFailure;

    private EventQmpClient ours(KvmFreeMachine m, Bus pio) throws Exception {
        return EventQmpClient.serving(dir.resolve("qmp-" + open.size() + ".sock"), open, s -> {
            MachineCommands.install(s, m, pio);
            MachineCommands.installDiagnostics(s, m, () -> vcpus, file -> {
                assertThat(m.paused()).as("saved while paused").isTrue();
                if (snapshotFailure != null) throw new java.io.IOException(snapshotFailure);
                snapshots.add(file);
            });
        });
    }

    private EventQmpClient qemu(String... extra) throws Exception {
        List<String> opts = new ArrayList<>(List.of("-machine", "pc,accel=tcg", "-S"));
        opts.addAll(List.of(extra));
        EventQmpClient c = EventQmpClient.qemu(opts);
        open.add(c);
        return c;
    }

    /** Sends {@code command} to both; the replies must be equal. Returns ours. */
    private static JsonNode both(EventQmpClient ours, EventQmpClient qemu, String command, String args) throws Exception {
        JsonNode q = qemu.execute(command, args), o = ours.execute(command, args);
        assertThat(o).as("%s %s: ours vs QEMU's", command, args).isEqualTo(q);
        return o;
    }

    /** The event must come from both, with the same data (or none in both). */
    private static JsonNode sameEvent(EventQmpClient ours, EventQmpClient qemu, String name) throws Exception {
        JsonNode q = qemu.event(name), o = ours.event(name);
        assertThat(o.get("data")).as("%s's data: ours vs QEMU's", name).isEqualTo(q.get("data"));
        assertThat(o.path("timestamp").path("seconds").isIntegralNumber()).isTrue();
        return o;
    }

    @Test
    void stopContPowerdownAndResetAnswerAsQemu() throws Exception {
        KvmFreeMachine m = machine(true, true);
        EventQmpClient ours = ours(m, m.pio), qemu = qemu();

        assertThat(both(ours, qemu, "query-status", null).get("return").path("status").asText()).isEqualTo("prelaunch");
        both(ours, qemu, "stop", null);                    // prelaunch: no STOP, still prelaunch
        both(ours, qemu, "query-status", null);
        assertThat(m.pauses.get()).isZero();
        assertThat(ours.pendingEvents()).isEmpty();

        both(ours, qemu, "cont", null);
        sameEvent(ours, qemu, "RESUME");
        assertThat(both(ours, qemu, "query-status", null).get("return").path("running").asBoolean()).isTrue();
        assertThat(m.resumes.get()).isEqualTo(1);
        assertThat(m.paused()).isFalse();

        both(ours, qemu, "stop", null);
        sameEvent(ours, qemu, "STOP");
        assertThat(both(ours, qemu, "query-status", null).get("return").path("status").asText()).isEqualTo("paused");
        assertThat(m.pauses.get()).isEqualTo(1);
        assertThat(m.paused()).isTrue();
        both(ours, qemu, "stop", null);                    // again: nothing more happens
        assertThat(m.pauses.get()).isEqualTo(1);

        // Hostile arguments: these commands take none.
        both(ours, qemu, "cont", "{\"x\": 1}");
        both(ours, qemu, "query-status", "{\"verbose\": true}");
        both(ours, qemu, "system_reset", "{\"hard\": 1}");
        assertThat(m.resumes.get()).isEqualTo(1);
        assertThat(m.ended).isNotDone();

        assertThat(m.chipset.pm().state().status() & PWRBTN_STS).isZero();
        both(ours, qemu, "system_powerdown", null);
        sameEvent(ours, qemu, "POWERDOWN");
        assertThat(m.chipset.pm().state().status() & PWRBTN_STS).as("PWRBTN_STS after the press").isEqualTo(PWRBTN_STS);

        both(ours, qemu, "cont", null);
        sameEvent(ours, qemu, "RESUME");
        both(ours, qemu, "system_reset", null);
        JsonNode reset = sameEvent(ours, qemu, "RESET");
        assertThat(reset.get("data").path("reason").asText()).isEqualTo("host-qmp-system-reset");
        VmExit e = m.ended.get(5, TimeUnit.SECONDS);
        assertThat(e.kind()).isEqualTo(VmExit.Kind.RESET);
        assertThat(ShutdownCause.of(e)).isEqualTo(ShutdownCause.HOST_QMP_SYSTEM_RESET);
        assertThat(ours.pendingEvents()).isEmpty();
    }

    @Test
    void quitAnswersAndShutsDownAsQemu() throws Exception {
        KvmFreeMachine m = machine(false, false);
        EventQmpClient ours = ours(m, m.pio), qemu = qemu();
        both(ours, qemu, "cont", null);                    // ours runs already: no RESUME, QEMU's leaves prelaunch
        qemu.event("RESUME");
        both(ours, qemu, "query-status", null);
        assertThat(m.resumes.get()).isZero();

        both(ours, qemu, "quit", null);
        JsonNode shutdown = sameEvent(ours, qemu, "SHUTDOWN");
        assertThat(shutdown.get("data").path("guest").asBoolean(true)).isFalse();
        assertThat(m.ended.get(5, TimeUnit.SECONDS).kind()).isEqualTo(VmExit.Kind.STOPPED);
        assertThat(m.stopReason).isEqualTo("quit requested over QMP");
        assertThat(m.lifecycle.quitRequested().toCompletableFuture().get(5, TimeUnit.SECONDS)).isEqualTo(ShutdownCause.HOST_QMP_QUIT);
    }

    @Test
    void incomingDeferStopAndContOnlySetAutostartAsQemu() throws Exception {
        KvmFreeMachine m = new KvmFreeMachine(List.of());
        open.add(m);
        m.lifecycle.incomingStarted();                     // vmm run --incoming defer: state inmigrate, not running
        EventQmpClient ours = ours(m, m.pio), qemu = qemu("-incoming", "defer");
        assertThat(both(ours, qemu, "query-status", null).get("return").path("status").asText()).isEqualTo("inmigrate");
        both(ours, qemu, "stop", null);
        assertThat(m.autostart).isFalse();
        both(ours, qemu, "cont", null);
        assertThat(m.autostart).isTrue();
        both(ours, qemu, "query-status", null);
        assertThat(m.pauses.get() + m.resumes.get()).isZero();
        assertThat(ours.pendingEvents()).isEmpty();
    }

    @Test
    void contAfterAGuestPowerOffUnderNoShutdownNeedsAReset() throws Exception {
        KvmFreeMachine m = machine(false, false);
        m.lifecycle.noShutdown(true);
        EventQmpClient ours = ours(m, m.pio);
        m.vmExit(new VmExit(VmExit.Kind.POWER_OFF, 0, "ACPI S5", null));
        JsonNode shutdown = ours.event("SHUTDOWN");
        assertThat(shutdown.get("data").path("guest").asBoolean()).isTrue();
        assertThat(shutdown.get("data").path("reason").asText()).isEqualTo("guest-shutdown");
        assertThat(ours.execute("query-status", null).get("return").path("status").asText()).isEqualTo("shutdown");
        JsonNode r = ours.execute("cont", null);
        assertThat(r.get("error").path("class").asText()).isEqualTo("GenericError");
        assertThat(r.get("error").path("desc").asText()).isEqualTo("Resetting the Virtual Machine is required");
        assertThat(m.resumes.get()).isZero();
    }

    @Test
    void contWhileSuspendedLeavesTheGuestAsleep() throws Exception {
        KvmFreeMachine m = machine(false, false);
        m.lifecycle.states().transition(RunState.SUSPENDED);
        EventQmpClient ours = ours(m, m.pio);
        m.pause();                                         // S3 parks the vCPUs
        int resumes = m.resumes.get();
        assertThat(ours.execute("cont", null).get("return").isEmpty()).isTrue();
        assertThat(m.resumes.get()).isEqualTo(resumes);
        assertThat(m.paused()).isTrue();
        assertThat(ours.execute("query-status", null).get("return").path("status").asText()).isEqualTo("suspended");
    }

    @Test
    void powerdownWithoutAnAcpiPmBlockIsAnError() throws Exception {
        KvmFreeMachine m = machine(false, false);
        EventQmpClient ours = ours(m, new Bus("pio without PM"));
        JsonNode r = ours.execute("system_powerdown", null);
        assertThat(r.get("error").path("class").asText()).isEqualTo("GenericError");
        assertThat(r.get("error").path("desc").asText()).isEqualTo("this machine has no ACPI power button");
        assertThat(m.chipset.pm().state().status() & PWRBTN_STS).isZero();
        assertThat(ours.execute("query-status", null).get("return").path("status").asText()).isEqualTo("running");
        assertThat(ours.pendingEvents()).isEmpty();
        assertThat(AcpiPm.class).isNotNull();
    }

    @Test
    void diagnosticsReadEveryVcpuAndPauseOnlyAsLongAsNeeded() throws Exception {
        KvmFreeMachine m = machine(false, false);
        EventQmpClient ours = ours(m, m.pio);
        vcpus.add(new FakeVcpu(0, new long[] {3, 0, 4, 5}, "rip=0x1000"));
        vcpus.add(new FakeVcpu(1, new long[] {0, 7}, "rip=0x2000"));
        assertThat(ours.execute("x-vmm-exit-counts", null).get("return")).isEqualTo(EventQmpClient.JSON.readTree(
                "[{\"cpu-index\":0,\"exits\":12},{\"cpu-index\":1,\"exits\":7}]"));
        vcpus.add(new FakeVcpu(2, new long[0], "rip=0x3000"));           // hot-plugged: read at each command
        assertThat(ours.execute("x-vmm-exit-counts", null).get("return").get(2).get("exits").asLong()).isZero();

        JsonNode regs = ours.execute("x-vmm-query-registers", null).get("return");
        assertThat(regs).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(regs.get(i).get("cpu-index").asInt()).isEqualTo(i);
            assertThat(regs.get(i).get("registers").asText()).isEqualTo(vcpus.get(i).registerDump());
        }
        assertThat(m.pauses.get()).as("paused to read").isEqualTo(1);
        assertThat(m.resumes.get()).as("and running again").isEqualTo(1);
        assertThat(m.paused()).isFalse();
        ours.event("STOP");
        ours.event("RESUME");

        m.pause();
        assertThat(ours.execute("x-vmm-query-registers", null).get("return")).hasSize(3);
        assertThat(m.resumes.get()).as("a paused machine stays paused").isEqualTo(1);
        assertThat(m.paused()).isTrue();
    }

    @Test
    void snapshotSaveLeavesTheMachinePausedOrSaysWhyNot() throws Exception {
        KvmFreeMachine m = machine(false, false);
        EventQmpClient ours = ours(m, m.pio);
        for (String args : List.of("{}", "{\"file\":\"\"}")) {
            JsonNode r = ours.execute("x-vmm-snapshot-save", args);
            assertThat(r.at("/error/class").asText()).isEqualTo("GenericError");
            assertThat(r.at("/error/desc").asText()).isEqualTo("Parameter 'file' is missing");
        }
        assertThat(m.pauses.get()).isZero();
        Path file = dir.resolve("vm.snap");
        assertThat(ours.execute("x-vmm-snapshot-save", "{\"file\":\"" + file + "\"}").get("return").isEmpty()).isTrue();
        assertThat(snapshots).containsExactly(file);
        assertThat(m.paused()).as("paused after the save, until cont or quit").isTrue();
        assertThat(m.resumes.get()).isZero();
        snapshotFailure = "No space left on device";
        JsonNode r = ours.execute("x-vmm-snapshot-save", "{\"file\":\"" + file + "\"}");
        assertThat(r.at("/error/desc").asText()).isEqualTo("snapshot to " + file + " failed: No space left on device");
        assertThat(snapshots).hasSize(1);
    }
}
