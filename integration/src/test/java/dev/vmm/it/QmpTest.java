package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
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
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The QMP control socket against a running guest: negotiation, stop/cont really pause, quit. */
class QmpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    /** A minimal QMP client. */
    static final class Client implements AutoCloseable {
        final SocketChannel ch;
        final BufferedReader in;
        final OutputStream out;
        final List<JsonNode> events = new ArrayList<>();

        /**
         * How long {@link #migrateToCompletion} waits: the guests migrated in these tests have at
         * most 128 MiB (CounterMigrationTest: ~0.15-0.5 s per GiB on a loaded 2-core host), the
         * slowest is a booted smoke kernel; 5 minutes is far beyond any of them.
         */
        static final java.time.Duration MIGRATION_DEADLINE = java.time.Duration.ofMinutes(5);

        Client(Path sock) throws Exception {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(sock));
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            out = Channels.newOutputStream(ch);
        }

        JsonNode read() throws Exception {
            return JSON.readTree(in.readLine());
        }

        /** Sends a command and returns its reply, collecting events that arrive before it. */
        JsonNode execute(String cmd) throws Exception {
            return execute(cmd, null);
        }

        /** With {@code arguments} as a JSON object text. */
        JsonNode execute(String cmd, String arguments) throws Exception {
            String req = "{\"execute\":\"" + cmd + "\"" + (arguments == null ? "" : ",\"arguments\":" + arguments) + "}\n";
            out.write(req.getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                JsonNode n = read();
                if (n.has("event")) events.add(n);
                else return n;
            }
        }

        /**
         * Runs {@code migrate} to {@code uri} and polls {@code query-migrate} until the migration
         * ends; asserts it completed (showing {@code context}, e.g. the destination's output, if
         * not) and returns the final statistics.
         */
        JsonNode migrateToCompletion(String uri, java.util.concurrent.Callable<String> context) throws Exception {
            return migrateToCompletion(uri, context, MIGRATION_DEADLINE);
        }

        /** As above, failing once {@code deadline} has passed with the migration still going. */
        JsonNode migrateToCompletion(String uri, java.util.concurrent.Callable<String> context, java.time.Duration deadline)
                throws Exception {
            JsonNode r = execute("migrate", "{\"uri\":\"" + uri + "\"}");
            org.assertj.core.api.Assertions.assertThat(r.has("return")).as(r.toString()).isTrue();
            long end = System.nanoTime() + deadline.toNanos();
            JsonNode stats;
            do {
                Thread.sleep(100);
                stats = execute("query-migrate").get("return");
                if (System.nanoTime() - end > 0 && !List.of("completed", "failed", "cancelled").contains(stats.path("status").asText())) {
                    throw new AssertionError("migration to " + uri + " not finished after " + deadline.toSeconds() + " s: "
                            + stats + System.lineSeparator() + context.call());
                }
            } while (!List.of("completed", "failed", "cancelled").contains(stats.path("status").asText()));
            org.assertj.core.api.Assertions.assertThat(stats.path("status").asText()).as("%s%n%s", stats, context.call())
                    .isEqualTo("completed");
            return stats;
        }

        @Override
        public void close() throws Exception {
            ch.close();
        }
    }

    /** Polls the exit counters until they pass {@code floor} (true) or {@code timeoutMs} passes (false). */
    private static boolean exitsRiseAbove(Client c, long floor, long timeoutMs) throws Exception {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() - deadline < 0) {
            if (totalExits(c) > floor) return true;
            Thread.sleep(20);
        }
        return totalExits(c) > floor;
    }

    private static long totalExits(Client c) throws Exception {
        JsonNode r = c.execute("x-vmm-exit-counts").get("return");
        long t = 0;
        for (JsonNode n : r) t += n.get("exits").asLong();
        return t;
    }

    @Test
    void stopPausesTheGuestAndContResumesIt(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("qmp.sock");
        Path kernel = GuestKit.get().image("exits", GuestKit.Format.PVH);
        List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(), "--cmdline",
                "count=100000000", "--qmp", "unix:" + sock, "--serial", "none");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile()).start();
        try {
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            assertThat(sock).exists();
            try (Client c = new Client(sock)) {
                assertThat(c.read().has("QMP")).isTrue();
                assertThat(c.execute("query-status").at("/error/class").asText()).isEqualTo("CommandNotFound");
                assertThat(c.execute("qmp_capabilities").has("return")).isTrue();
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("running");

                long before = totalExits(c);
                assertThat(exitsRiseAbove(c, before, 30_000)).as("the guest makes exits while running").isTrue();

                assertThat(c.execute("stop").has("return")).isTrue();
                assertThat(c.events).anyMatch(e -> e.get("event").asText().equals("STOP"));
                assertThat(c.execute("query-status").at("/return/running").asBoolean()).isFalse();
                long paused = totalExits(c);
                Thread.sleep(500);
                assertThat(totalExits(c)).as("no exits while paused").isEqualTo(paused);

                assertThat(c.execute("cont").has("return")).isTrue();
                assertThat(exitsRiseAbove(c, paused, 30_000)).as("exits again after cont").isTrue();

                assertThat(c.execute("no-such-command").at("/error/desc").asText())
                        .isEqualTo("The command no-such-command has not been found");
                assertThat(c.execute("quit").has("return")).isTrue();
            }
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isZero();
            assertThat(Files.readString(dir.resolve("out.txt"))).contains("quit requested over QMP");
        } finally {
            p.destroyForcibly();
        }
    }
}
