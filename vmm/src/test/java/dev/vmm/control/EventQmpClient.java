package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A negotiated QMP client that keeps the events it reads (QmpPair's drops them): our server over
 * its socket, or QEMU 7.2 on stdio started with the given machine options. Every read waits at
 * most {@link DeadlineInputStream}'s deadline, so a missing reply or event fails in seconds.
 */
final class EventQmpClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedReader in;
    private final OutputStream out;
    private final AutoCloseable resource;
    private final List<JsonNode> events = new ArrayList<>();

    private EventQmpClient(InputStream in, OutputStream out, String peer, AutoCloseable resource) throws IOException {
        this.in = new BufferedReader(new InputStreamReader(new DeadlineInputStream(in, peer), StandardCharsets.UTF_8));
        this.out = out;
        this.resource = resource;
        this.in.readLine(); // greeting
        JsonNode r = execute("qmp_capabilities", null);
        if (!r.has("return")) throw new IOException("qmp_capabilities refused: " + r);
    }

    /** Our server at {@code socket}. */
    static EventQmpClient ours(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new EventQmpClient(Channels.newInputStream(ch), Channels.newOutputStream(ch), "our QMP server", ch);
    }

    /** Registers a command set on a server (e.g. {@code s -> BlockCommands.install(s, ...)}). */
    @FunctionalInterface
    interface Commands {
        void install(QmpServer server) throws Exception;
    }

    /**
     * Our {@link QmpServer} at {@code socket} with {@code commands}, started, and a client of it; both
     * closed by {@code open} after the test (server after client).
     */
    static EventQmpClient serving(Path socket, Closer open, Commands commands) throws Exception {
        QmpServer server = new QmpServer(socket, "test");
        commands.install(server);
        server.start();
        open.add(server::close);
        return open.add(ours(server.path()));
    }

    /** QEMU 7.2 with {@code options} (e.g. {@code -machine pc,accel=tcg -S}); skips where it is not installed. */
    static EventQmpClient qemu(List<String> options) throws IOException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        List<String> cmd = new ArrayList<>(List.of(exe));
        cmd.addAll(options);
        cmd.addAll(List.of("-nodefaults", "-display", "none", "-qmp", "stdio"));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        return new EventQmpClient(p.getInputStream(), p.getOutputStream(), "QEMU's QMP", () -> {
            p.destroy();
            p.waitFor(10, TimeUnit.SECONDS);
        });
    }

    /** Sends a command; returns its reply, keeping the events read on the way. */
    JsonNode execute(String command, String arguments) throws IOException {
        out.write(("{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}\n")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            JsonNode r = read();
            if (r.has("return") || r.has("error")) return r;
            events.add(r);
        }
    }

    /** The next event called {@code name} (read now if not yet), taken out of the kept ones. */
    JsonNode event(String name) throws IOException {
        while (true) {
            for (Iterator<JsonNode> it = events.iterator(); it.hasNext(); ) {
                JsonNode e = it.next();
                if (e.path("event").asText().equals(name)) {
                    it.remove();
                    return e;
                }
            }
            JsonNode r = read();
            if (!r.has("event")) throw new IOException("a reply where an event was awaited: " + r);
            events.add(r);
        }
    }

    /** Names of the events read and not yet taken. */
    List<String> pendingEvents() {
        return events.stream().map(e -> e.path("event").asText()).toList();
    }

    private JsonNode read() throws IOException {
        String line = in.readLine();
        if (line == null) throw new IOException("QMP peer closed");
        return JSON.readTree(line);
    }

    @Override
    public void close() throws Exception {
        resource.close();
    }
}
