package dev.vmm.control;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A QMP-compatible control socket (QEMU's docs/interop/qmp-spec): greeting, capabilities
 * negotiation, {@code {"execute": ..., "arguments": ..., "id": ...}} → {@code return} or
 * {@code error}, and asynchronous {@code event}s — with QEMU's command, argument and field names
 * so that existing QMP tools work. Commands are registered by the parts of the VMM that own them.
 *
 * <p>Uses Jackson for JSON: QMP is plain JSON objects on a stream, and Jackson's streaming
 * reader handles concatenated objects, escapes and numbers exactly, which a hand parser would not.
 */
public final class QmpServer implements AutoCloseable {
    /** A command handler: arguments (an object, possibly empty) → the {@code return} value. */
    @FunctionalInterface
    public interface Command {
        Object execute(JsonNode arguments) throws QmpException;
    }

    /** A failed command: QEMU's error classes are GenericError, CommandNotFound, DeviceNotFound... */
    public static final class QmpException extends Exception {
        private final String errorClass;

        public QmpException(String errorClass, String desc) {
            super(desc);
            this.errorClass = errorClass;
        }

        public static QmpException generic(String desc) {
            return new QmpException("GenericError", desc);
        }

        public String errorClass() { return errorClass; }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path path;
    private final String version;
    private final Map<String, Command> commands = new ConcurrentHashMap<>();
    /** The parameters each command declares; a command absent here checks its own arguments. */
    private final Map<String, Set<String>> parameters = new ConcurrentHashMap<>();
    private final Set<Client> clients = ConcurrentHashMap.newKeySet();
    /** The listening socket: a raw fd (dev.vmm.control.fdpass) so clients can pass fds (getfd); -1 before start. */
    private volatile int server = -1;
    /** The client whose command runs on this thread (getfd takes the fds that client passed). */
    private static final ThreadLocal<Client> CURRENT = new ThreadLocal<>();

    public QmpServer(Path path, String version) {
        this.path = path;
        this.version = version;
        register("qmp_capabilities", Set.of("enable"), args -> Map.of());
        register("query-commands", Set.of(), args -> commands.keySet().stream().sorted().map(n -> Map.of("name", n)).toList());
        register("query-version", Set.of(), args -> Map.of(
                "qemu", Map.of("major", 0, "minor", 1, "micro", 0), "package", "vmm " + version));
    }

    /** A command that checks its own arguments. */
    public void register(String name, Command c) {
        commands.put(name, c);
    }

    /**
     * A command whose arguments are among {@code params} ({@code Set.of()}: none): any other is
     * refused before the command runs, as QEMU refuses it ("Parameter 'x' is unexpected").
     */
    public void register(String name, Set<String> params, Command c) {
        parameters.put(name, Set.copyOf(params));
        commands.put(name, c);
    }

    /** Binds the socket (replacing a stale one) and starts accepting clients. */
    public void start() throws IOException {
        Files.deleteIfExists(path);
        // Bind under a temporary name and rename once listening: a client that waits for the path
        // to appear can never connect in the gap between bind() and listen() and be refused.
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp" + ProcessHandle.current().pid());
        Files.deleteIfExists(tmp);
        server = dev.vmm.control.fdpass.UnixSockets.listen(tmp);
        Files.move(tmp, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "qmp-accept", this::acceptLoop);
    }

    public Path path() { return path; }

    private void acceptLoop() {
        while (server >= 0) {
            try {
                Client c = new Client(new dev.vmm.control.fdpass.FdStreams(dev.vmm.control.fdpass.UnixSockets.accept(server)));
                dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "qmp-client", c::serve);
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** Sends an event to every client past capabilities negotiation. */
    public void event(String name, Object data) {
        ObjectNode ev = JSON.createObjectNode();
        ev.put("event", name);
        // QEMU leaves 'data' out of events without members (STOP, RESUME, POWERDOWN).
        if (data != null && !(data instanceof Map<?, ?> m && m.isEmpty())) ev.set("data", JSON.valueToTree(data));
        long micros = System.currentTimeMillis() * 1000 + (System.nanoTime() / 1000) % 1000;
        ObjectNode ts = ev.putObject("timestamp");
        ts.put("seconds", micros / 1_000_000);
        ts.put("microseconds", micros % 1_000_000);
        for (Client c : clients) {
            if (c.negotiated) c.send(ev);
        }
    }

    private final class Client {
        private final dev.vmm.control.fdpass.FdStreams ch;
        private final OutputStream out;
        volatile boolean negotiated;

        Client(dev.vmm.control.fdpass.FdStreams ch) {
            this.ch = ch;
            this.out = ch.out();
        }

        void serve() {
            clients.add(this);
            CURRENT.set(this);
            try (InputStream in = ch.in()) {
                ObjectNode greeting = JSON.createObjectNode();
                ObjectNode qmp = greeting.putObject("QMP");
                qmp.set("version", JSON.valueToTree(Map.of("qemu", Map.of("major", 0, "minor", 1, "micro", 0),
                        "package", "vmm " + version)));
                qmp.putArray("capabilities");
                send(greeting);
                MappingIterator<JsonNode> it = JSON.readerFor(JsonNode.class).readValues(in);
                while (it.hasNextValue()) {
                    JsonNode req;
                    try {
                        req = it.nextValue();
                    } catch (RuntimeException e) {
                        send(error(null, "GenericError", "JSON parse error, " + firstLine(e.getMessage())));
                        return; // the stream is unusable after a syntax error
                    }
                    send(handle(req));
                }
            } catch (IOException | RuntimeException e) {
                // client went away
            } finally {
                clients.remove(this);
                CURRENT.remove();
                ch.close(); // the socket and every passed fd no command took
            }
        }

        private ObjectNode handle(JsonNode req) {
            JsonNode id = req.get("id");
            if (!req.isObject() || !req.path("execute").isTextual()) {
                return error(id, "GenericError", "QMP input must be an object with an 'execute' member");
            }
            String name = req.get("execute").asText();
            JsonNode args = req.has("arguments") ? req.get("arguments") : JSON.createObjectNode();
            if (!args.isObject()) return error(id, "GenericError", "QMP input member 'arguments' must be an object");
            if (!negotiated && !name.equals("qmp_capabilities")) {
                return error(id, "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
            }
            if (negotiated && name.equals("qmp_capabilities")) {
                return error(id, "CommandNotFound", "Capabilities negotiation is already complete, command ignored");
            }
            Command c = commands.get(name);
            if (c == null) return error(id, "CommandNotFound", "The command " + name + " has not been found");
            Set<String> declared = parameters.get(name);
            if (declared != null) {
                for (java.util.Iterator<String> it = args.fieldNames(); it.hasNext(); ) {
                    String p = it.next();
                    if (!declared.contains(p)) return error(id, "GenericError", "Parameter '" + p + "' is unexpected");
                }
            }
            try {
                Object result = c.execute(args);
                if (name.equals("qmp_capabilities")) negotiated = true;
                ObjectNode ok = JSON.createObjectNode();
                ok.set("return", JSON.valueToTree(result == null ? Map.of() : result));
                if (id != null) ok.set("id", id);
                return ok;
            } catch (QmpException e) {
                return error(id, e.errorClass(), e.getMessage());
            } catch (RuntimeException e) {
                return error(id, "GenericError", String.valueOf(e.getMessage()));
            }
        }

        synchronized void send(JsonNode node) {
            try {
                out.write((JSON.writeValueAsString(node) + "\r\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            } catch (IOException e) {
                clients.remove(this);
            }
        }
    }

    private static ObjectNode error(JsonNode id, String cls, String desc) {
        ObjectNode e = JSON.createObjectNode();
        ObjectNode err = e.putObject("error");
        err.put("class", cls);
        err.put("desc", desc);
        if (id != null) e.set("id", id);
        return e;
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    /**
     * For a command running now: the oldest file descriptor its client passed with SCM_RIGHTS and
     * no command has taken yet (the caller owns it now), or -1 (none, or not on a client's thread).
     */
    public static int takeReceivedFd() {
        Client c = CURRENT.get();
        return c == null ? -1 : c.ch.takeFd();
    }

    /** Names of the registered commands, sorted. */
    public Set<String> commandNames() {
        return new TreeMap<>(commands).keySet();
    }

    @Override
    public void close() {
        try {
            int fd = server;
            if (fd >= 0) {
                server = -1;
                dev.vmm.control.fdpass.UnixSockets.shutdown(fd); // wakes the accept loop
                dev.vmm.ffm.libc.Libc.close(fd);
            }
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // shutdown path
        }
    }
}
