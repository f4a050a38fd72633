package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The event line of the QMP specification (QEMU's docs/interop/qmp-spec: {@code event}, optional
 * {@code data}, {@code timestamp} with {@code seconds} and {@code microseconds}): the timestamp
 * is the wall-clock time of the event, {@code data} is left out when it has no members (as QEMU
 * does for STOP/RESUME), and only clients past capabilities negotiation get events. (PIT: the
 * timestamp arithmetic and the data rule of {@code QmpServer.event} survived every test.)
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QmpEventLineTest {
    @TempDir
    Path dir;

    private record Conn(BufferedReader in, OutputStream out) {
        JsonNode line() throws Exception {
            String l = in.readLine();
            assertThat(l).as("a line from the server").isNotNull();
            return QmpPair.JSON.readTree(l);
        }

        JsonNode send(String line) throws Exception {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return line();
        }
    }

    private static Conn connect(QmpServer server) throws Exception {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(server.path()));
        Conn c = new Conn(new BufferedReader(new InputStreamReader(new DeadlineInputStream(Channels.newInputStream(ch), "our QMP server"),
                StandardCharsets.UTF_8)), Channels.newOutputStream(ch));
        assertThat(c.line().has("QMP")).as("greeting").isTrue();
        return c;
    }

    @Test
    void eventsCarryTheirTimeAndDataOnlyWithMembersAndReachNegotiatedClientsOnly() throws Exception {
        QmpServer server = new QmpServer(dir.resolve("qmp.sock"), "test");
        server.start();
        try {
            Conn negotiated = connect(server), fresh = connect(server);
            assertThat(negotiated.send("{\"execute\": \"qmp_capabilities\"}").has("return")).isTrue();

            long before = System.currentTimeMillis();
            server.event("STOP", Map.of());
            JsonNode stop = negotiated.line();
            long after = System.currentTimeMillis();
            assertThat(stop.get("event").asText()).isEqualTo("STOP");
            assertThat(stop.has("data")).as("no members: no data, as QEMU").isFalse();
            long seconds = stop.at("/timestamp/seconds").asLong(-1), micros = stop.at("/timestamp/microseconds").asLong(-1);
            assertThat(micros).isBetween(0L, 999_999L);
            long atMillis = seconds * 1000 + micros / 1000;
            assertThat(atMillis).as("the event's time, ms").isBetween(before - 1, after + 1);

            server.event("BLOCK_JOB_READY", Map.of("device", "d0", "len", 7));
            JsonNode ready = negotiated.line();
            assertThat(ready.get("event").asText()).isEqualTo("BLOCK_JOB_READY");
            assertThat(ready.at("/data/device").asText()).isEqualTo("d0");
            assertThat(ready.at("/data/len").asInt()).isEqualTo(7);
            server.event("X", null);
            assertThat(negotiated.line().has("data")).as("null data: none").isFalse();

            // The client still negotiating got none of the three: its next line answers its command.
            JsonNode r = fresh.send("{\"execute\": \"qmp_capabilities\"}");
            assertThat(r.has("event")).as("an event before negotiation: %s", r).isFalse();
            assertThat(r.has("return")).isTrue();
        } finally {
            server.close();
        }
    }

    private static java.util.Set<Thread> acceptThreads() {
        java.util.Set<Thread> out = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) if (t.getName().contains("qmp-accept")) out.add(t);
        return out;
    }

    /** close() ends the accept thread (a blocked accept() is woken only by shutting the socket down) and removes the path. */
    @Test
    void closeEndsTheAcceptLoopAndRemovesTheSocket() throws Exception {
        java.util.Set<Thread> before = acceptThreads();
        QmpServer server = new QmpServer(dir.resolve("qmp.sock"), "test");
        server.start();
        java.util.Set<Thread> mine = acceptThreads();
        mine.removeAll(before);
        assertThat(mine).as("the server's accept thread").hasSize(1);
        Thread accept = mine.iterator().next();
        connect(server); // it serves
        server.close();
        accept.join(DeadlineInputStream.WAIT_MS);
        assertThat(accept.isAlive()).as("accept loop still running after close").isFalse();
        assertThat(java.nio.file.Files.exists(server.path())).isFalse();
    }
}
