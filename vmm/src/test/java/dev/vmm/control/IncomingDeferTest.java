package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.incoming.IncomingMigration;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.DirtyLog;
import dev.vmm.migration.IncomingTarget;
import dev.vmm.migration.MigrationCapabilities;
import dev.vmm.migration.MigrationException;
import dev.vmm.migration.MigrationParameters;
import dev.vmm.migration.MigrationSource;
import dev.vmm.migration.MigrationStatus;
import dev.vmm.migration.VmControl;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code vmm run --incoming defer} + QMP {@code migrate-incoming} (issue 15) without KVM: the QMP
 * side ({@link MigrationCommands} with {@link IncomingMigration}, run state from a
 * {@link Lifecycle} in inmigrate) compared with QEMU 7.2 started with {@code -incoming defer} at
 * test time — refusals, {@code query-status}, {@code query-migrate}, the MIGRATION events — and the
 * real incoming engine ({@code MigrationDestination}) fed by a real {@code MigrationSource} once
 * {@code migrate-incoming} gave it a socket.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IncomingDeferTest {
    private static final long RAM = 8L << 20;

    @TempDir
    Path dir;

    /** One QMP peer whose replies and events are recorded in order (events as "event STATUS"). */
    private static final class Peer {
        final BufferedReader in;
        final java.io.OutputStream out;
        final List<String> events = new ArrayList<>();

        Peer(BufferedReader in, java.io.OutputStream out) {
            this.in = in;
            this.out = out;
        }

        JsonNode execute(String command, String arguments) throws IOException {
            String line = "{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}\n";
            out.write(line.getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String reply = in.readLine();
                if (reply == null) throw new IOException("QMP peer closed");
                JsonNode r = QmpPair.JSON.readTree(reply);
                if (r.has("event")) events.add(eventName(r));
                if (r.has("return") || r.has("error")) return r;
            }
        }

        /** Reads events until {@code name} arrived (bounded by the test's timeout). */
        void awaitEvent(String name) throws IOException {
            while (!events.contains(name)) {
                String line = in.readLine();
                if (line == null) throw new IOException("QMP peer closed before " + name);
                JsonNode r = QmpPair.JSON.readTree(line);
                if (r.has("event")) events.add(eventName(r));
            }
        }

        private static String eventName(JsonNode r) {
            return r.get("event").asText() + (r.has("data") && r.get("data").has("status") ? " " + r.get("data").get("status").asText() : "");
        }
    }

    private static String qemuExe() {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        return exe;
    }

    /** QEMU 7.2 pc (TCG, -S) with QMP on stdio; {@code extra} e.g. {@code -incoming defer}. */
    private static Process qemu(String... extra) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(qemuExe(), "-M", "pc", "-accel", "tcg", "-m", "32", "-S", "-nodefaults",
                "-display", "none", "-qmp", "stdio"));
        cmd.addAll(List.of(extra));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    private static Peer peer(Process p) throws IOException {
        Peer peer = new Peer(new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)), p.getOutputStream());
        peer.in.readLine();
        peer.execute("qmp_capabilities", null);
        return peer;
    }

    /** Our QMP server as {@code vmm run --incoming SPEC} has it before the machine runs. */
    private record Ours(QmpServer server, Peer peer, Lifecycle lifecycle) implements AutoCloseable {
        @Override
        public void close() {
            server.close();
        }
    }

    private Ours ours(IncomingMigration incoming) throws IOException {
        Lifecycle lifecycle = new Lifecycle();
        if (incoming.pending()) lifecycle.incomingStarted();
        QmpServer server = new QmpServer(dir.resolve("qmp-" + System.nanoTime() + ".sock"), "test");
        MigrationCommands.install(server, null).incoming(incoming);
        server.register("query-status", a -> MachineCommands.status(lifecycle.state()));
        server.start();
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(server.path()));
        Peer p = new Peer(new BufferedReader(new InputStreamReader(new DeadlineInputStream(Channels.newInputStream(ch), "our QMP server"),
                StandardCharsets.UTF_8)),
                Channels.newOutputStream(ch));
        p.in.readLine();
        p.execute("qmp_capabilities", null);
        return new Ours(server, p, lifecycle);
    }

    /** The reply with a socket path of either side replaced, so both sides' own paths compare equal. */
    private static JsonNode masked(JsonNode reply, Path ourPath, Path qemuPath) throws IOException {
        String s = reply.toString().replace(ourPath.toString(), "PATH").replace(qemuPath.toString(), "PATH");
        return QmpPair.JSON.readTree(s);
    }

    @Test
    void migrateIncomingIsAnsweredAsQemuAnswersIt() throws Exception {
        Path ourSock = dir.resolve("ours-mig.sock"), qemuSock = dir.resolve("qemu-mig.sock");
        String tooLong = dir.resolve("x".repeat(120)).toString();
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            List<String> args = new ArrayList<>(List.of("{}", "{\"uri\": 5}", "{\"uri\": null}", "{\"uri\": \"tcp:127.0.0.1:0\", \"x\": 1}",
                    "{\"uri\": \"\"}", "{\"uri\": \"foo:bar\"}", "{\"uri\": \"TCP:127.0.0.1:5\"}", "{\"uri\": \"tcp:\"}",
                    "{\"uri\": \"tcp:127.0.0.1\"}", "{\"uri\": \"tcp:127.0.0.1:\"}", "{\"uri\": \"tcp::\"}", "{\"uri\": \"tcp:[::1\"}",
                    "{\"uri\": \"tcp:[::1]\"}", "{\"uri\": \"tcp:127.0.0.1:x\"}", "{\"uri\": \"tcp:127.0.0.1:-1\"}",
                    "{\"uri\": \"tcp:[::1]:y\"}", "{\"uri\": \"tcp:127.0.0.1:" + busy.getLocalPort() + "\"}",
                    "{\"uri\": \"unix:\"}", "{\"uri\": \"unix:" + tooLong + "\"}", "{\"uri\": \"unix:/nonexistent-dir/m.sock\"}"));
            Process q = qemu("-incoming", "defer");
            try (Ours o = ours(IncomingMigration.of("defer"))) {
                Peer qemu = peer(q);
                List<String[]> script = new ArrayList<>();
                script.add(new String[] {"query-status", null});
                script.add(new String[] {"query-migrate", null});
                for (String a : args) script.add(new String[] {"migrate-incoming", a});
                script.add(new String[] {"migrate", "{\"uri\": \"unix:" + dir.resolve("nowhere.sock") + "\"}"});
                script.add(new String[] {"migrate-set-capabilities", "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}"});
                script.add(new String[] {"query-status", null});
                for (String[] c : script) {
                    JsonNode qr = qemu.execute(c[0], c[1]);
                    JsonNode or = o.peer().execute(c[0], c[1]);
                    assertThat(or).as("%s %s", c[0], c[1]).isEqualTo(qr);
                }
                // a URI that works: each side its own socket path
                JsonNode qr = qemu.execute("migrate-incoming", "{\"uri\": \"unix:" + qemuSock + "\"}");
                JsonNode or = o.peer().execute("migrate-incoming", "{\"uri\": \"unix:" + ourSock + "\"}");
                assertThat(or).isEqualTo(qr);
                for (String[] c : List.of(new String[] {"query-migrate", null}, new String[] {"query-status", null},
                        new String[] {"migrate-incoming", "{\"uri\": \"unix:" + ourSock + "\"}"},
                        new String[] {"migrate-incoming", "{\"uri\": \"foo:\"}"})) {
                    assertThat(masked(o.peer().execute(c[0], c[1]), ourSock, qemuSock)).as("%s %s", c[0], c[1])
                            .isEqualTo(masked(qemu.execute(c[0], c[1]), ourSock, qemuSock));
                }
                assertThat(o.peer().events).isEqualTo(qemu.events).contains("MIGRATION setup");
            } finally {
                q.destroy();
                q.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void migrateIncomingWithoutIncomingOptionIsRefusedAsByQemu() throws Exception {
        Process q = qemu();
        try (Ours o = ours(IncomingMigration.none())) {
            Peer qemu = peer(q);
            for (String a : List.of("{\"uri\": \"unix:" + dir.resolve("m.sock") + "\"}", "{\"uri\": \"foo:bar\"}", "{}")) {
                assertThat(o.peer().execute("migrate-incoming", a)).as(a).isEqualTo(qemu.execute("migrate-incoming", a));
            }
            assertThat(o.peer().execute("query-migrate", null)).isEqualTo(qemu.execute("query-migrate", null));
            assertThat(o.peer().events).isEqualTo(qemu.events).isEmpty();
        } finally {
            q.destroy();
            q.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** A destination's RAM and device state, as the VMM's MachineMigration would fill them. */
    private static final class Target implements IncomingTarget {
        final Arena arena = Arena.ofShared();
        final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM, 4096))));
        final CompletableFuture<Long> started = new CompletableFuture<>();
        final AtomicReference<Throwable> discarded = new AtomicReference<>();
        volatile long deviceValue;

        @Override
        public GuestMemory memory() { return memory; }

        @Override
        public void loadDeviceState(StateReader reader) throws IOException {
            reader.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) { return name.equals("test") ? 1 : -1; }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    deviceValue = in.readLong();
                }
            });
        }

        @Override
        public void start() { started.complete(deviceValue); }

        @Override
        public void discard(Throwable cause) { discarded.set(cause); }
    }

    /** A source VM without KVM: fixed RAM, a dirty log that reports nothing after the first pass. */
    private static final class Source implements VmControl, DirtyLog {
        final Arena arena = Arena.ofShared();
        final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(RAM, 4096))));

        Source() {
            byte[] b = new byte[(int) RAM / 2];
            new Random(7).nextBytes(b);
            memory.write(4096, b);
        }

        @Override public void start() { }

        @Override public long[] fetchAndClear(int regionIndex) { return new long[(int) (RAM / 4096 / 64)]; }

        @Override public void stop() { }

        @Override public void pause() { }

        @Override public void resume() { }

        @Override
        public void writeDeviceState(StateWriter w) throws IOException {
            w.section("test", 1, 8, o -> o.writeLong(0x1234_5678_9abcL));
        }
    }

    @Test
    void deferredDestinationReceivesAMigrationAfterMigrateIncoming() throws Exception {
        IncomingMigration incoming = IncomingMigration.of("defer");
        assertThat(incoming.deferred()).isTrue();
        Target target = new Target();
        Source source = new Source();
        CompletableFuture<Object> quit = new CompletableFuture<>();
        List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
        try (Ours o = ours(incoming)) {
            CompletableFuture<IncomingMigration.Outcome> received = receiving(incoming, target, quit, log::add);
            awaitLog(log, "waiting for QMP migrate-incoming (--incoming defer)");
            assertThat(o.peer().execute("query-migrate", null).get("return").size()).isZero();
            assertThat(o.peer().execute("migrate-set-capabilities",
                    "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}").has("return")).isTrue();
            assertThat(o.peer().execute("migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:0\"}").has("return")).isTrue();
            JsonNode address = o.peer().execute("query-migrate", null).get("return").get("socket-address").get(0);
            assertThat(address.get("type").asText()).isEqualTo("inet");
            assertThat(address.get("host").asText()).isEqualTo("127.0.0.1");
            assertThat(address.get("ipv4").asBoolean()).isTrue();
            int port = Integer.parseInt(address.get("port").asText());
            assertThat(port).isPositive();
            assertThat(o.peer().execute("query-status", null).get("return").get("status").asText()).isEqualTo("inmigrate");

            MigrationSource src = new MigrationSource(source.memory, source, source, new MigrationParameters(), new MigrationCapabilities());
            src.start(dev.vmm.migration.MigrationUri.parse("tcp:127.0.0.1:" + port).connect());
            assertThat(received.get(60, TimeUnit.SECONDS)).isEqualTo(IncomingMigration.Outcome.RECEIVED);
            assertThat(src.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(src.status()).isEqualTo(MigrationStatus.COMPLETED);
            assertThat(target.started.get(10, TimeUnit.SECONDS)).isEqualTo(0x1234_5678_9abcL);
            assertThat(target.discarded.get()).isNull();
            byte[] a = new byte[(int) RAM], b = new byte[(int) RAM];
            source.memory.read(0, a, 0, a.length);
            target.memory.read(0, b, 0, b.length);
            assertThat(b).isEqualTo(a);
            o.peer().awaitEvent("MIGRATION completed");
            assertThat(o.peer().events).containsExactly("MIGRATION setup", "MIGRATION active", "MIGRATION completed");
            JsonNode q = o.peer().execute("query-migrate", null).get("return");
            assertThat(q.get("status").asText()).isEqualTo("completed");
            assertThat(q.has("socket-address")).isFalse();
            assertThat(o.peer().execute("migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:0\"}").get("error").get("desc").asText())
                    .isEqualTo("The incoming migration has already been started");
            assertThat(log).contains("incoming migration complete; running");
        } finally {
            source.arena.close();
            target.arena.close();
        }
    }

    /** QEMU's destination events for the same flow (QEMU source → QEMU -incoming defer), for the test above. */
    @Test
    void qemuDestinationSendsTheSameEvents() throws Exception {
        Process dst = qemu("-incoming", "defer");
        Process srcProcess = qemu();
        try {
            Peer d = peer(dst), s = peer(srcProcess);
            d.execute("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}");
            Path sock = dir.resolve("qemu-m.sock");
            assertThat(d.execute("migrate-incoming", "{\"uri\": \"unix:" + sock + "\"}").has("return")).isTrue();
            assertThat(s.execute("migrate", "{\"uri\": \"unix:" + sock + "\"}").has("return")).isTrue();
            d.awaitEvent("MIGRATION completed");
            // what ours sent in deferredDestinationReceivesAMigrationAfterMigrateIncoming (a -S destination: no RESUME)
            assertThat(d.events.stream().filter(e -> e.startsWith("MIGRATION")).toList())
                    .containsExactly("MIGRATION setup", "MIGRATION active", "MIGRATION completed");
            assertThat(d.execute("query-migrate", null).get("return").get("status").asText()).isEqualTo("completed");
        } finally {
            for (Process p : List.of(dst, srcProcess)) {
                p.destroy();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aBrokenStreamFailsTheDestinationAndDiscardsIt() throws Exception {
        IncomingMigration incoming = IncomingMigration.of("defer");
        Target target = new Target();
        Path sock = dir.resolve("m.sock");
        try (Ours o = ours(incoming)) {
            CompletableFuture<IncomingMigration.Outcome> received = receiving(incoming, target, new CompletableFuture<>(), line -> { });
            o.peer().execute("migrate-set-capabilities", "{\"capabilities\": [{\"capability\": \"events\", \"state\": true}]}");
            assertThat(o.peer().execute("migrate-incoming", "{\"uri\": \"unix:" + sock + "\"}").has("return")).isTrue();
            try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                ch.write(java.nio.ByteBuffer.wrap("garbage garbage garbage".getBytes(StandardCharsets.US_ASCII)));
            }
            assertThatThrownBy(() -> received.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(MigrationException.class);
            assertThat(target.discarded.get()).isNotNull();
            assertThat(target.started).isNotDone();
            o.peer().awaitEvent("MIGRATION failed");
            assertThat(o.peer().events).containsExactly("MIGRATION setup", "MIGRATION active", "MIGRATION failed");
            assertThat(o.peer().execute("query-migrate", null).get("return").get("status").asText()).isEqualTo("failed");
            assertThat(sock).doesNotExist();
        } finally {
            target.arena.close();
        }
    }

    @Test
    void aQuitEndsTheWaitForTheUriOrForTheSource() throws Exception {
        for (boolean afterUri : new boolean[] {false, true}) {
            IncomingMigration incoming = IncomingMigration.of("defer");
            Target target = new Target();
            CompletableFuture<Object> quit = new CompletableFuture<>();
            List<String> log = java.util.Collections.synchronizedList(new ArrayList<>());
            Path sock = dir.resolve("q" + afterUri + ".sock");
            try (Ours o = ours(incoming)) {
                CompletableFuture<IncomingMigration.Outcome> received = receiving(incoming, target, quit, log::add);
                awaitLog(log, "waiting for QMP migrate-incoming (--incoming defer)");
                if (afterUri) {
                    assertThat(o.peer().execute("migrate-incoming", "{\"uri\": \"unix:" + sock + "\"}").has("return")).isTrue();
                    awaitLog(log, "waiting for an incoming migration on unix:" + sock);
                }
                quit.complete("quit");
                assertThat(received.get(20, TimeUnit.SECONDS)).as("after URI: %s", afterUri).isEqualTo(IncomingMigration.Outcome.QUIT_WHILE_WAITING);
                assertThat(target.started).isNotDone();
                assertThat(sock).doesNotExist();
            } finally {
                target.arena.close();
            }
        }
    }

    @Test
    void aListeningUriIsBoundAtOnceAndABadOneIsRefusedUpFront() throws Exception {
        assertThatThrownBy(() -> IncomingMigration.of("exec:cat state")).hasMessage(
                "migration protocol 'exec' is not supported by this VMM (use tcp:HOST:PORT or unix:PATH)");
        assertThatThrownBy(() -> IncomingMigration.of("tcp:127.0.0.1:99999")).hasMessage(
                "migration URI 'tcp:127.0.0.1:99999': port 99999 is out of range (0-65535)");
        assertThatThrownBy(() -> IncomingMigration.of("tcp:h:1,to=5")).hasMessageContaining("options after ','");
        assertThatThrownBy(() -> IncomingMigration.of("unix:a\0b")).hasMessage("UNIX socket path contains a NUL byte");
        // a regular file at the path is not deleted (QEMU would unlink it): refused as in use
        Path file = Files.writeString(dir.resolve("precious"), "data");
        IncomingMigration in = IncomingMigration.of("unix:" + file);
        assertThat(in.deferred()).isFalse();
        assertThatThrownBy(() -> in.receive(new Target(), new CompletableFuture<>(), l -> { }))
                .isInstanceOf(MigrationException.class).hasMessage("Failed to bind socket to " + file + ": Address already in use");
        assertThat(Files.readString(file)).isEqualTo("data");
    }

    /** {@code incoming.receive} on another thread (as vmm run's main thread waits there). */
    private static CompletableFuture<IncomingMigration.Outcome> receiving(IncomingMigration incoming, IncomingTarget target,
                                                                         java.util.concurrent.CompletionStage<?> quit,
                                                                         java.util.function.Consumer<String> log) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return incoming.receive(target, quit, log);
            } catch (MigrationException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
    }

    private static void awaitLog(List<String> log, String line) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!log.contains(line)) {
            if (System.nanoTime() > deadline) throw new AssertionError("not logged within 20 s: " + line + " (log: " + log + ")");
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }
}
