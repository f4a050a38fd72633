package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.balloon.BalloonCommands;
import dev.vmm.balloon.MachineBalloon;
import dev.vmm.virtio.balloon.VirtioBalloon;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The balloon's QMP against QEMU 7.2 run at test time ({@code -machine pc,accel=tcg -S -m 256M
 * -device virtio-balloon}: TCG, no KVM; the guest never runs, so no driver): the same command lines
 * go to QEMU and to our server (BalloonCommands over a VirtioBalloon of the same RAM size, not
 * activated) and the whole answers — return values, error classes and descriptions — must be equal.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BalloonQmpOracleTest {
    private static final long RAM = 256L << 20;

    @TempDir
    Path dir;

    private static VirtioBalloon device() {
        return new VirtioBalloon(VirtioBalloon.Options.DEFAULT, RAM, (g, l) -> true, Runnable::run,
                (t, d) -> () -> { }, () -> 0, l -> { });
    }

    private static List<String> qemu(String... devices) {
        List<String> a = new ArrayList<>(List.of("-machine", "pc,accel=tcg", "-S", "-m", "256M"));
        for (String d : devices) a.addAll(List.of("-device", d));
        return a;
    }

    /** Sends every line to both and asserts equal answers; returns our answers. */
    private static List<JsonNode> compare(QmpPair pair, List<String> lines) throws IOException {
        QmpPair.Client qemu = pair.qemu.negotiated(), ours = pair.ours.negotiated();
        List<JsonNode> answers = new ArrayList<>();
        for (String line : lines) {
            JsonNode q = qemu.send(line), o = ours.send(line);
            assertThat(o).as("%s", line).isEqualTo(q);
            answers.add(o);
        }
        return answers;
    }

    private static String cmd(String name, String args) {
        return "{\"execute\": \"" + name + "\"" + (args == null ? "" : ", \"arguments\": " + args) + "}";
    }

    @Test
    void withoutABalloonDeviceTheCommandsAreRefusedAsByQemu() throws Exception {
        try (QmpPair pair = new QmpPair(dir, qemu(), s -> BalloonCommands.install(s, null))) {
            compare(pair, List.of(cmd("query-balloon", null), cmd("balloon", "{\"value\": 1073741824}"),
                    cmd("balloon", "{\"value\": 0}"), cmd("balloon", "{\"value\": \"1G\"}"), cmd("balloon", null),
                    cmd("qom-get", "{\"path\": \"/machine/peripheral-anon/device[0]\", \"property\": \"guest-stats\"}")));
        }
    }

    @Test
    void balloonQueryBalloonAndQomAnswerAsQemu() throws Exception {
        String anon = "\"path\": \"/machine/peripheral-anon/device[0]\"";
        try (QmpPair pair = new QmpPair(dir, qemu("virtio-balloon"),
                s -> BalloonCommands.install(s, new MachineBalloon(device(), null, 0)))) {
            List<JsonNode> answers = compare(pair, List.of(
                    cmd("query-balloon", null),
                    cmd("balloon", "{\"value\": 0}"),
                    cmd("balloon", "{\"value\": -5}"),
                    cmd("balloon", "{\"value\": 1.5}"),
                    cmd("balloon", "{\"value\": \"128M\"}"),
                    cmd("balloon", null),
                    cmd("balloon", "{\"value\": 134217728, \"x\": 1}"),
                    cmd("balloon", "{\"value\": 999999999999}"),
                    cmd("balloon", "{\"value\": 134217728}"),
                    cmd("query-balloon", null),   // the guest (no driver) has not moved: still all RAM
                    cmd("query-balloon", "{\"x\": 1}"),
                    cmd("qom-get", "{" + anon + ", \"property\": \"guest-stats\"}"),
                    cmd("qom-get", "{" + anon + ", \"property\": \"guest-stats-polling-interval\"}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats-polling-interval\", \"value\": -1}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats-polling-interval\", \"value\": 5000000000}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats-polling-interval\", \"value\": \"abc\"}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats-polling-interval\"}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats-polling-interval\", \"value\": 2}"),
                    cmd("qom-get", "{" + anon + ", \"property\": \"guest-stats-polling-interval\"}"),
                    cmd("qom-set", "{" + anon + ", \"property\": \"guest-stats\", \"value\": 1}"),
                    cmd("qom-get", "{" + anon + ", \"property\": \"nosuch\"}"),
                    cmd("qom-get", "{" + anon + "}"),
                    cmd("qom-get", "{\"path\": \"/machine/peripheral-anon/device[7]\", \"property\": \"guest-stats\"}")));
            assertThat(answers.get(18).get("return").asLong()).isEqualTo(2);
            assertThat(answers.get(11).get("return").get("stats").size()).isEqualTo(10);
        }
    }

    @Test
    void aBalloonWithAnIdIsFoundByItAsByQemu() throws Exception {
        try (QmpPair pair = new QmpPair(dir, qemu("virtio-balloon,id=b0"),
                s -> BalloonCommands.install(s, new MachineBalloon(device(), "b0", 0)))) {
            compare(pair, List.of(
                    cmd("qom-get", "{\"path\": \"b0\", \"property\": \"guest-stats-polling-interval\"}"),
                    cmd("qom-get", "{\"path\": \"/machine/peripheral/b0\", \"property\": \"guest-stats-polling-interval\"}"),
                    cmd("qom-get", "{\"path\": \"/machine/peripheral-anon/device[0]\", \"property\": \"guest-stats\"}"),
                    cmd("qom-set", "{\"path\": \"b0\", \"property\": \"guest-stats-polling-interval\", \"value\": 10}"),
                    cmd("qom-get", "{\"path\": \"b0\", \"property\": \"guest-stats-polling-interval\"}")));
        }
    }

    /** BALLOON_CHANGE needs a guest driver, which QEMU's side has not: ours only, QEMU's documented member. */
    @Test
    void aDriverChangingActualSendsBalloonChange() throws Exception {
        VirtioBalloon b = device();
        QmpServer server = new QmpServer(dir.resolve("q.sock"), "test");
        BalloonCommands.install(server, new MachineBalloon(b, null, 0));
        server.start();
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(server.path()));
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            var out = Channels.newOutputStream(ch);
            new QmpPair.Client(in, out).negotiated();
            b.writeConfig(4, 4, 1024);                         // the driver holds 4 MiB
            JsonNode ev = QmpPair.JSON.readTree(in.readLine());
            assertThat(ev.get("event").asText()).isEqualTo("BALLOON_CHANGE");
            assertThat(ev.get("data").get("actual").asLong()).isEqualTo(RAM - (4L << 20));
            QmpPair.Client c = new QmpPair.Client(in, out);
            assertThat(c.execute("query-balloon", null).get("return").get("actual").asLong()).isEqualTo(RAM - (4L << 20));
        } finally {
            server.close();
        }
    }

}
