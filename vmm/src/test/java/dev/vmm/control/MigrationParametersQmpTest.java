package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The migration parameter commands over QMP, side by side with QEMU 7.2 run at test time
 * ({@code -machine none}, QMP on stdio): the same {@code migrate-set-parameters} lines go to both,
 * and each must be accepted or refused alike, leaving the same values in
 * {@code query-migrate-parameters}; {@code query-migrate} before any migration is the same too.
 * No machine is needed: these commands only touch the parameters (MigrationCommands gets none).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MigrationParametersQmpTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The parameters both have (ours also has x-dirty-log-verify; QEMU many more). */
    private static final List<String> SHARED = List.of("max-bandwidth", "downtime-limit", "xbzrle-cache-size",
            "cpu-throttle-initial", "cpu-throttle-increment", "cpu-throttle-tailslow", "max-cpu-throttle",
            "throttle-trigger-threshold");

    @TempDir
    Path dir;
    private QmpServer server;
    private Client ours;
    private Client qemu;
    private Process qemuProcess;

    /** A QMP client over any pair of streams: one request, one reply line (events skipped). */
    private record Client(BufferedReader in, OutputStream out) {
        JsonNode execute(String command, String arguments) throws IOException {
            String req = "{\"execute\": \"" + command + "\"" + (arguments == null ? "" : ", \"arguments\": " + arguments) + "}\n";
            out.write(req.getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                String line = in.readLine();
                if (line == null) throw new IOException("QMP peer closed");
                JsonNode reply = JSON.readTree(line);
                if (reply.has("return") || reply.has("error")) return reply;
            }
        }

        Client negotiated() throws IOException {
            assertThat(in.readLine()).contains("\"QMP\"");
            assertThat(execute("qmp_capabilities", null).has("return")).isTrue();
            return this;
        }
    }

    @BeforeEach
    void start() throws IOException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        qemuProcess = new ProcessBuilder(exe, "-machine", "none", "-nodefaults", "-display", "none", "-qmp", "stdio")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        qemu = new Client(new BufferedReader(new InputStreamReader(qemuProcess.getInputStream(), StandardCharsets.UTF_8)),
                qemuProcess.getOutputStream()).negotiated();

        server = new QmpServer(dir.resolve("qmp.sock"), "test");
        MigrationCommands.install(server, null);
        server.start();
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(server.path()));
        ours = new Client(new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8)),
                Channels.newOutputStream(ch)).negotiated();
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) server.close();
        if (qemuProcess != null) {
            qemuProcess.destroy();
            qemuProcess.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private void assertSameParameters(String after) throws IOException {
        JsonNode q = qemu.execute("query-migrate-parameters", null).get("return");
        JsonNode o = ours.execute("query-migrate-parameters", null).get("return");
        for (String name : SHARED) assertThat(o.get(name)).as("%s after %s", name, after).isEqualTo(q.get(name));
    }

    @Test
    void setParametersIsAcceptedOrRefusedAsByQemu() throws IOException {
        assertSameParameters("start");
        List<String> commands = List.of(
                "{\"cpu-throttle-tailslow\": true}",
                "{\"cpu-throttle-tailslow\": 1}",
                "{\"cpu-throttle-tailslow\": \"false\"}",
                "{\"cpu-throttle-tailslow\": false, \"cpu-throttle-increment\": 5}",
                "{\"cpu-throttle-initial\": \"30\"}",
                "{\"cpu-throttle-initial\": 30.5}",
                "{\"cpu-throttle-initial\": 30}",
                "{\"max-cpu-throttle\": 25}",
                "{\"max-cpu-throttle\": 40, \"cpu-throttle-initial\": 35}",
                "{\"cpu-throttle-increment\": null}",
                "{\"throttle-trigger-threshold\": 0}",
                "{\"throttle-trigger-threshold\": 100, \"cpu-throttle-tailslow\": true}",
                "{\"downtime-limit\": 2000001}",
                "{\"downtime-limit\": 2000000, \"max-bandwidth\": 1048576}",
                "{\"no-such-parameter\": 1}");
        for (String args : commands) {
            JsonNode q = qemu.execute("migrate-set-parameters", args);
            JsonNode o = ours.execute("migrate-set-parameters", args);
            assertThat(o.has("return")).as("%s: QEMU answered %s, we %s", args, q, o).isEqualTo(q.has("return"));
            assertSameParameters(args);
        }
    }

    @Test
    void queryMigrateIsEmptyBeforeAnyMigration() throws IOException {
        assertThat(ours.execute("query-migrate", null)).isEqualTo(qemu.execute("query-migrate", null));
    }
}
