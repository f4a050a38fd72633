package dev.vmm.lifecycle;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.testing.QemuQtest;
import dev.vmm.control.QmpServer;
import dev.vmm.vcpu.VmExit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * QEMU 7.2 (TCG, no KVM needed) is the oracle: the same sequence of commands gives the same
 * {@code query-status} states, and QEMU's events have the same members as ours as our QMP server
 * sends them (top-level keys, and {@code data} equal).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QemuLifecycleOracleTest {
    private final List<Process> processes = new ArrayList<>();
    private Path dir;
    private QmpServer server;
    private SocketChannel client;

    static Path qemu() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(d, "qemu-system-x86_64");
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    @BeforeEach
    void needQemu() throws IOException {
        assumeTrue(qemu() != null, "qemu-system-x86_64 is not installed");
        dir = Files.createTempDirectory(Path.of("/tmp"), "lc");
    }

    @AfterEach
    void cleanUp() throws IOException {
        for (Process p : processes) {
            p.destroy();
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (client != null) client.close();
        if (server != null) server.close();
        if (dir != null) {
            try (var s = Files.list(dir)) {
                for (Path p : s.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        }
    }

    private QmpLines startQemu(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(qemu().toString(), "-accel", "tcg", "-display", "none", "-nodefaults"));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("-qmp", "stdio"));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        processes.add(p);
        return new QmpLines(p.getInputStream(), p.getOutputStream());
    }

    /** Our QMP server with a lifecycle's events, and a client connected to it. */
    private QmpLines startOurs(Lifecycle life) throws IOException {
        server = new QmpServer(dir.resolve("qmp.sock"), "test");
        server.register("query-status", a -> java.util.Map.of("status", life.state().qapiName(),
                "singlestep", false, "running", life.state() == RunState.RUNNING));
        life.addSink(server::event);
        server.start();
        client = SocketChannel.open(StandardProtocolFamily.UNIX);
        client.connect(UnixDomainSocketAddress.of(server.path()));
        return new QmpLines(Channels.newInputStream(client), Channels.newOutputStream(client));
    }

    private static String status(QmpLines q) throws Exception {
        JsonNode r = q.execute("query-status").get("return");
        assertThat(r.get("running").asBoolean()).isEqualTo(r.get("status").asText().equals("running"));
        assertThat(r.get("singlestep").asBoolean()).isFalse();
        return r.get("status").asText();
    }

    private static Set<String> keys(JsonNode n) {
        Set<String> s = new TreeSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    private static void sameShape(JsonNode qemuEvent, JsonNode ourEvent) {
        assertThat(keys(ourEvent)).as("event members, QEMU's: " + qemuEvent).isEqualTo(keys(qemuEvent));
        assertThat(keys(ourEvent.get("timestamp"))).isEqualTo(keys(qemuEvent.get("timestamp")));
        assertThat(ourEvent.get("data")).as("data, QEMU's: " + qemuEvent).isEqualTo(qemuEvent.get("data"));
    }

    @Test
    void startPausedStopContSequenceAndStopResumeEvents() throws Exception {
        QmpLines qemu = startQemu("-M", "none", "-S");
        Lifecycle life = new Lifecycle();
        QmpLines ours = startOurs(life);
        assertThat(status(ours)).isEqualTo(status(qemu)); // -S
        qemu.execute("stop");
        life.paused();
        assertThat(status(ours)).isEqualTo(status(qemu)); // stop before the first cont changes nothing
        qemu.execute("cont");
        life.resumed();
        assertThat(status(ours)).isEqualTo(status(qemu));
        sameShape(qemu.event("RESUME"), ours.event("RESUME"));
        qemu.execute("stop");
        life.paused();
        assertThat(status(ours)).isEqualTo(status(qemu));
        sameShape(qemu.event("STOP"), ours.event("STOP"));
        qemu.execute("cont");
        life.resumed();
        assertThat(status(ours)).isEqualTo(status(qemu));
    }

    @Test
    void quitIsShutdownHostQmpQuit() throws Exception {
        QmpLines qemu = startQemu("-M", "none");
        Lifecycle life = new Lifecycle();
        QmpLines ours = startOurs(life);
        life.states().transition(RunState.RUNNING);
        qemu.execute("quit");
        life.ended(new VmExit(VmExit.Kind.STOPPED, 0, "quit requested over QMP", null), false);
        sameShape(qemu.event("SHUTDOWN"), ours.event("SHUTDOWN"));
    }

    @Test
    void systemResetIsResetHostQmpSystemReset() throws Exception {
        QmpLines qemu = startQemu("-M", "pc", "-S");
        Lifecycle life = new Lifecycle();
        QmpLines ours = startOurs(life);
        qemu.execute("system_reset");
        life.ended(new VmExit(VmExit.Kind.RESET, 0, "reset requested over QMP", null), true); // --reboot
        sameShape(qemu.event("RESET"), ours.event("RESET"));
    }

    @Test
    void systemResetWithoutRebootIsShutdownHostQmpSystemReset() throws Exception {
        QmpLines qemu = startQemu("-M", "pc", "-S", "-no-reboot");
        Lifecycle life = new Lifecycle();
        QmpLines ours = startOurs(life);
        qemu.execute("system_reset");
        life.ended(new VmExit(VmExit.Kind.RESET, 0, "reset requested over QMP", null), false);
        sameShape(qemu.event("SHUTDOWN"), ours.event("SHUTDOWN"));
    }

    /**
     * The guest powers off under {@code -no-shutdown}: QEMU's PIIX4 PM block (placed as firmware
     * would, through qtest) gets SLP_TYP=S5|SLP_EN. The events in order, and the state a client sees
     * when it asks right after each (QEMU's main loop changes the state before it sends STOP, so no
     * client can see "running" after SHUTDOWN and STOP), must be QEMU's.
     */
    @Test
    void guestPowerOffUnderNoShutdownIsShutdownStopAndStateShutdown() throws Exception {
        Path sock = dir.resolve("qemu-qmp.sock");
        try (QemuQtest qtest = QemuQtest.start("-machine", "pc", "-accel", "tcg", "-no-shutdown",
                "-bios", QemuQtest.haltingBios(dir).toString(), "-qmp", "unix:" + sock + ",server=on,wait=off")) {
            QmpLines qemu = connect(sock);
            Lifecycle life = new Lifecycle();
            life.noShutdown(true);
            QmpLines ours = startOurs(life);
            qemu.execute("cont");
            life.resumed();
            assertThat(qemu.nextEvent().path("event").asText()).isEqualTo("RESUME");
            assertThat(ours.nextEvent().path("event").asText()).isEqualTo("RESUME");
            qtest.cfgWrite(0, 1, 3, 0x40, 4, 0x601); // PIIX4 PM (00:01.3): PMBA 0x600
            qtest.cfgWrite(0, 1, 3, 0x80, 1, 1);     // PM I/O space on
            // SLP_TYP 0 is S5 on QEMU's PIIX4; QEMU maps the PM block lazily: write until it acts.
            for (int i = 0; i < 20 && status(qemu).equals("running"); i++) {
                qtest.out(0x604, 2, 1 << 13);
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (System.nanoTime() < until && status(qemu).equals("running")) Thread.sleep(20);
            }
            life.ended(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null), false);
            List<String> theirs = new ArrayList<>(), mine = new ArrayList<>();
            for (QmpLines side : List.of(qemu, ours)) {
                List<String> log = side == qemu ? theirs : mine;
                for (int i = 0; i < 2; i++) {
                    JsonNode e = side.nextEvent();
                    log.add(e.path("event").asText() + " " + e.path("data") + " -> " + status(side));
                }
            }
            assertThat(mine).containsExactlyElementsOf(theirs);
            assertThat(theirs.getLast()).endsWith("-> shutdown"); // premise: QEMU stayed, as -no-shutdown says
        }
    }

    /**
     * pvpanic as QEMU's ISA device reports it (port 0x505 written through qtest): bit 1 alone is
     * GUEST_CRASHLOADED and the guest runs on; bit 0 under {@code -action panic=pause} is
     * GUEST_PANICKED, STOP and state guest-panicked; {@code cont} resumes. Events in order and the
     * state after each, against ours under {@code --on-panic pause}.
     */
    @Test
    void pvpanicUnderPauseIsGuestPanickedStopAndStateGuestPanicked() throws Exception {
        Path sock = dir.resolve("qemu-qmp.sock");
        try (QemuQtest qtest = QemuQtest.start("-machine", "pc", "-accel", "tcg", "-device", "pvpanic", "-action", "panic=pause",
                "-bios", QemuQtest.haltingBios(dir).toString(), "-qmp", "unix:" + sock + ",server=on,wait=off")) {
            QmpLines qemu = connect(sock);
            Lifecycle life = new Lifecycle();
            life.panicPolicy(PanicPolicy.parse("pause"));
            QmpLines ours = startOurs(life);
            qemu.execute("cont");
            life.resumed();
            List<String> theirs = new ArrayList<>(), mine = new ArrayList<>();
            theirs.add(eventAndStatus(qemu));
            mine.add(eventAndStatus(ours));
            qtest.out(0x505, 1, 2);             // crash kernel loaded
            theirs.add(eventAndStatus(qemu));
            life.crashLoaded();
            mine.add(eventAndStatus(ours));
            qtest.out(0x505, 1, 1);             // panicked
            theirs.add(eventAndStatus(qemu));
            theirs.add(eventAndStatus(qemu));
            life.panicked();
            mine.add(eventAndStatus(ours));
            mine.add(eventAndStatus(ours));
            qemu.execute("cont");
            theirs.add(eventAndStatus(qemu));
            life.resumed();
            mine.add(eventAndStatus(ours));
            assertThat(mine).containsExactlyElementsOf(theirs);
            assertThat(theirs.get(3)).isEqualTo("STOP  -> guest-panicked"); // premise: QEMU paused as told
        }
    }

    /** The next event with its data, and the state a client asking right after it is told. */
    private static String eventAndStatus(QmpLines side) throws Exception {
        JsonNode e = side.nextEvent();
        return e.path("event").asText() + " " + (e.has("data") ? e.get("data").toString() : "") + " -> " + status(side);
    }

    private static QmpLines connect(Path sock) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(sock));
                return new QmpLines(Channels.newInputStream(ch), Channels.newOutputStream(ch));
            } catch (IOException e) {
                if (System.nanoTime() > deadline) throw e;
                Thread.sleep(50); // QEMU has not created its socket yet
            }
        }
    }

    @Test
    void systemPowerdownEmitsPowerdown() throws Exception {
        QmpLines qemu = startQemu("-M", "pc", "-S");
        Lifecycle life = new Lifecycle();
        QmpLines ours = startOurs(life);
        qemu.execute("system_powerdown");
        life.emit(LifecycleEvents.POWERDOWN, LifecycleEvents.empty());
        sameShape(qemu.event("POWERDOWN"), ours.event("POWERDOWN"));
    }
}
