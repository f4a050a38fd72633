package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Our QMP server and QEMU 7.2's ({@code -machine none}, QMP on stdio), side by side, so a test can
 * send both the same lines and compare the answers: QEMU is the oracle, queried at test time.
 */
final class QmpPair implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    /** A QMP client over any pair of streams. */
    record Client(BufferedReader in, OutputStream out) {
        /** Sends one raw line (it may be malformed) and returns the next reply, events skipped. */
        JsonNode send(String line) throws IOException {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String reply = in.readLine();
                if (reply == null) throw new IOException("QMP peer closed");
                JsonNode r = JSON.readTree(reply);
                if (r.has("return") || r.has("error")) return r;
            }
        }

        JsonNode execute(String command, String arguments) throws IOException {
            return send("{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}");
        }

        /** The greeting line. */
        JsonNode greeting() throws IOException {
            return JSON.readTree(in.readLine());
        }

        Client negotiated() throws IOException {
            greeting();
            JsonNode r = execute("qmp_capabilities", null);
            if (!r.has("return")) throw new IOException("qmp_capabilities refused: " + r);
            return this;
        }
    }

    final Client qemu;
    final Client ours;
    private final Process qemuProcess;
    private final QmpServer server;

    /** Starts both; {@code install} registers the command groups our server should have. */
    QmpPair(Path dir, Consumer<QmpServer> install) throws IOException {
        this(dir, java.util.List.of("-machine", "none"), install);
    }

    /** As above with QEMU's machine and devices given ({@code -machine pc,accel=tcg -S -device ...}). */
    QmpPair(Path dir, java.util.List<String> qemuMachine, Consumer<QmpServer> install) throws IOException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of(exe));
        cmd.addAll(qemuMachine);
        cmd.addAll(java.util.List.of("-nodefaults", "-display", "none", "-qmp", "stdio"));
        qemuProcess = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        // Every read bounded (DeadlineInputStream): a peer that stops answering fails the test in seconds.
        qemu = new Client(new BufferedReader(new InputStreamReader(new DeadlineInputStream(qemuProcess.getInputStream(), "QEMU's QMP"),
                StandardCharsets.UTF_8)), qemuProcess.getOutputStream());
        server = new QmpServer(dir.resolve("qmp.sock"), "test");
        install.accept(server);
        server.start();
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(server.path()));
        ours = new Client(new BufferedReader(new InputStreamReader(new DeadlineInputStream(Channels.newInputStream(ch), "our QMP server"),
                StandardCharsets.UTF_8)), Channels.newOutputStream(ch));
    }

    @Override
    public void close() throws Exception {
        server.close();
        qemuProcess.destroy();
        qemuProcess.waitFor(10, TimeUnit.SECONDS);
    }
}
