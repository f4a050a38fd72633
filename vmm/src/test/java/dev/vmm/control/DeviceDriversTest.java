package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The one {@code device_add}/{@code device_del} dispatcher: errors in QEMU's classes (QEMU 7.2 asked
 * at test time), dispatch by driver and by id, and DEVICE_DELETED only once the family says the
 * device is gone.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeviceDriversTest {
    @TempDir
    Path dir;
    private QmpPair pair;

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    /** A family whose devices leave only when the test says the guest has released them. */
    static final class SlowFamily implements DeviceDriver {
        final Map<String, CompletableFuture<Void>> devices = new ConcurrentHashMap<>();
        final List<String> added = new ArrayList<>();

        @Override public Set<String> drivers() { return Set.of("test-dev"); }

        @Override public void add(String driver, String id, JsonNode args) throws QmpServer.QmpException {
            if (!args.has("size")) throw QmpServer.QmpException.generic("Parameter 'size' is missing");
            added.add(id);
            if (id != null) devices.put(id, new CompletableFuture<>());
        }

        @Override public boolean owns(String id) { return devices.containsKey(id); }

        @Override public CompletableFuture<Void> delete(String id) {
            CompletableFuture<Void> f = devices.get(id);
            return f.thenRun(() -> devices.remove(id));
        }
    }

    @Test
    void mistakesGetQemusErrorClasses() throws IOException {
        pair = new QmpPair(dir, s -> DeviceDrivers.install(s).register(new SlowFamily()));
        QmpPair.Client q = pair.qemu.negotiated(), o = pair.ours.negotiated();
        for (String args : List.of("{\"driver\":\"no-such-device-model\"}", "{}", "{\"driver\":7}",
                "{\"id\":\"gone\"}")) {
            String command = args.equals("{\"id\":\"gone\"}") ? "device_del" : "device_add";
            JsonNode qe = q.execute(command, args), oe = o.execute(command, args);
            assertThat(oe.at("/error/class")).as("%s %s: ours %s, QEMU %s", command, args, oe, qe).isEqualTo(qe.at("/error/class"));
            assertThat(oe.at("/error/desc").asText()).as("%s %s: QEMU %s", command, args, qe)
                    .startsWith(qe.at("/error/desc").asText());
        }
    }

    @Test
    void dispatchesByDriverAndIdAndAnnouncesDeletionWhenTheDeviceIsGone() throws Exception {
        SlowFamily family = new SlowFamily();
        QmpServer server = new QmpServer(dir.resolve("q.sock"), "test");
        DeviceDrivers.install(server).register(family);
        server.start();
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            OutputStream out = Channels.newOutputStream(ch);
            QmpPair.Client c = new QmpPair.Client(in, out).negotiated();
            assertThat(c.execute("device_add", "{\"driver\":\"test-dev\",\"id\":\"d1\",\"size\":1}").has("return")).isTrue();
            assertThat(family.added).containsExactly("d1");
            assertThat(c.execute("device_add", "{\"driver\":\"test-dev\",\"id\":\"d1\",\"size\":1}").at("/error/desc").asText())
                    .isEqualTo("Duplicate device ID 'd1'");
            assertThat(c.execute("device_add", "{\"driver\":\"test-dev\",\"id\":\"9lives\",\"size\":1}").at("/error/desc").asText())
                    .contains("identifier");
            assertThat(c.execute("device_add", "{\"driver\":\"test-dev\",\"id\":\"d2\"}").at("/error/desc").asText())
                    .isEqualTo("Parameter 'size' is missing");
            assertThat(family.added).containsExactly("d1");

            // The guest has not released d1 yet: the command returns, no event.
            out.write("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertThat(QmpPair.JSON.readTree(in.readLine()).has("return")).isTrue();
            family.devices.get("d1").complete(null);
            JsonNode ev = QmpPair.JSON.readTree(in.readLine());
            assertThat(ev.path("event").asText()).isEqualTo("DEVICE_DELETED");
            assertThat(ev.at("/data/device").asText()).isEqualTo("d1");
            assertThat(ev.at("/data/path").asText()).isEqualTo("/machine/peripheral/d1");
            assertThat(c.execute("device_del", "{\"id\":\"d1\"}").at("/error/class").asText()).isEqualTo("DeviceNotFound");
        } finally {
            server.close();
        }
    }

    @Test
    void identifiersFollowQemusRule() {
        assertThat(DeviceDrivers.validId("disk-1.a_b")).isTrue();
        assertThat(DeviceDrivers.validId("1disk")).isFalse();
        assertThat(DeviceDrivers.validId("")).isFalse();
        assertThat(DeviceDrivers.validId("a b")).isFalse();
        assertThat(DeviceDrivers.validId("é")).isFalse();
    }
}
