package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.netdev.NetdevCommands;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code netdev_add}/{@code netdev_del} argument checks compared with QEMU 7.2 ({@code pc}, TCG,
 * stopped) at test time. Only requests QEMU refuses before opening anything are sent to it: QEMU
 * running as root would create real tap interfaces for a valid request (and aborts on
 * {@code queues: 0}). This VMM's own refusals (vhost on, queues out of range, other types, and the
 * a tap without ifname) are checked by themselves.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NetdevQemuOracleTest {
    @TempDir
    Path dir;
    private QmpPair pair;

    @BeforeEach
    void start() throws Exception {
        pair = new QmpPair(dir, List.of("-machine", "pc,accel=tcg", "-S", "-m", "256"), s -> NetdevCommands.install(s, new dev.vmm.control.netdev.Netdevs()));
        pair.qemu.negotiated();
        pair.ours.negotiated();
    }

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    private void both(String command, String args) throws IOException {
        JsonNode q = pair.qemu.execute(command, args);
        JsonNode o = pair.ours.execute(command, args);
        assertThat(q.has("error")).as("QEMU refuses %s: %s", args, q).isTrue();
        assertThat(o).as("%s %s", command, args).isEqualTo(q);
    }

    private JsonNode oursError(String args) throws IOException {
        JsonNode o = pair.ours.execute("netdev_add", args);
        assertThat(o.get("error").get("class").asText()).as("%s", o).isEqualTo("GenericError");
        return o.get("error").get("desc");
    }

    @Test
    void refusalsAsQemu() throws IOException {
        both("netdev_add", "{}");
        both("netdev_add", "{\"type\": \"tap\"}");
        both("netdev_add", "{\"type\": \"bogus\", \"id\": \"n0\"}");
        both("netdev_add", "{\"type\": \"tap\", \"id\": \"1bad\"}");
        both("netdev_add", "{\"type\": \"tap\", \"id\": \"n0\", \"foo\": 1}");
        both("netdev_add", "{\"type\": \"tap\", \"id\": \"n0\", \"queues\": \"x\"}");
        both("netdev_add", "{\"type\": \"tap\", \"id\": \"n0\", \"vhost\": \"x\"}");
        both("netdev_add", "{\"type\": \"tap\", \"id\": \"n0\", \"ifname\": 5}");
        both("netdev_del", "{}");
        both("netdev_del", "{\"id\": \"zz\"}");
    }

    @Test
    void ownRefusalsChangeNothing() throws IOException {
        assertThat(oursError("{\"type\": \"tap\", \"id\": \"n0\", \"queues\": 0}").asText()).contains("queues");
        assertThat(oursError("{\"type\": \"tap\", \"id\": \"n0\", \"vhost\": true}").asText()).contains("vhost");
        assertThat(oursError("{\"type\": \"user\", \"id\": \"n0\"}").asText()).contains("only tap");
        assertThat(oursError("{\"type\": \"tap\", \"id\": \"n0\", \"ifname\": \"tap-name-too-long0\"}").asText()).contains("ifname");
        assertThat(oursError("{\"type\": \"tap\", \"id\": \"n0\", \"queues\": 2, \"vhost\": false}").asText())
                .contains("needs 'ifname'");
        assertThat(pair.ours.execute("netdev_del", "{\"id\": \"n0\"}").get("error").get("class").asText()).isEqualTo("DeviceNotFound");
    }
}
