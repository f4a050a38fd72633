package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.block.BlockException;
import dev.vmm.block.Images;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.block.BlockdevCommands;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * QMP {@code blockdev-add}/{@code blockdev-del} compared with QEMU 7.2 {@code -machine none} at test
 * time: the same requests to both, the same answers (return, or error class and desc). Each side has
 * its own copy of every image that is opened successfully (both lock what they open); a missing file
 * has the same path on both sides so the messages can be compared.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BlockdevQemuOracleTest {
    @TempDir
    Path dir;
    private QmpPair pair;
    private final BlockNodes nodes = new BlockNodes();
    private Path qemuDir;
    private Path ourDir;

    @BeforeEach
    void start() throws Exception {
        qemuDir = Files.createDirectories(dir.resolve("qemu"));
        ourDir = Files.createDirectories(dir.resolve("ours"));
        for (Path d : List.of(qemuDir, ourDir)) {
            Files.write(d.resolve("a.raw"), new byte[1 << 20]);
            qemuImg("create", "-f", "qcow2", d.resolve("b.qcow2").toString(), "1M");
        }
        pair = new QmpPair(dir, List.of("-machine", "none"), s -> BlockdevCommands.install(s, nodes));
        pair.qemu.negotiated();
        pair.ours.negotiated();
    }

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
        nodes.closeAll();
    }

    private static void qemuImg(String... args) throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img is not installed (apt-get install qemu-utils)");
        List<String> cmd = new java.util.ArrayList<>(List.of("/usr/bin/qemu-img"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertThat(p.waitFor()).as("qemu-img %s", cmd).isZero();
    }

    /** Sends {@code args} (with {@code DIR} replaced by each side's image directory) to both; returns ours. */
    private JsonNode both(String command, String args) throws IOException {
        JsonNode q = pair.qemu.execute(command, args.replace("DIR", qemuDir.toString()));
        JsonNode o = pair.ours.execute(command, args.replace("DIR", ourDir.toString()));
        assertThat(o).as("%s %s", command, args).isEqualTo(q);
        return o;
    }

    /** Sends identical text to both (paths named in an error must then be the same). */
    private JsonNode same(String command, String args) throws IOException {
        JsonNode q = pair.qemu.execute(command, args);
        JsonNode o = pair.ours.execute(command, args);
        assertThat(o).as("%s %s", command, args).isEqualTo(q);
        return o;
    }

    private static String raw(String node, String file, String extra) {
        return "{\"driver\": \"raw\", \"node-name\": \"" + node + "\"" + extra
                + ", \"file\": {\"driver\": \"file\", \"filename\": \"" + file + "\"}}";
    }

    @Test
    void addDuplicateAndDeleteAsQemu() throws IOException {
        assertThat(both("blockdev-add", raw("n1", "DIR/a.raw", "")).has("return")).isTrue();
        assertThat(both("blockdev-add", raw("n1", "DIR/a.raw", "")).get("error").get("class").asText()).isEqualTo("GenericError");
        assertThat(both("blockdev-add", "{\"driver\": \"qcow2\", \"node-name\": \"q1\", \"read-only\": true, \"discard\": \"unmap\","
                + " \"cache\": {\"direct\": false, \"no-flush\": true}, \"file\": {\"driver\": \"file\", \"filename\": \"DIR/b.qcow2\"}}")
                .has("return")).isTrue();
        assertThat(both("blockdev-del", "{\"node-name\": \"n1\"}").has("return")).isTrue();
        assertThat(both("blockdev-del", "{\"node-name\": \"n1\"}").has("error")).isTrue();
        assertThat(both("blockdev-del", "{\"node-name\": \"q1\"}").has("return")).isTrue();
        assertThat(nodes.names()).isEmpty();
    }

    @Test
    void refusalsAsQemu() throws IOException {
        String missing = dir.resolve("missing.raw").toString();
        assertThat(same("blockdev-add", raw("n2", missing, "")).has("error")).isTrue();
        assertThat(both("blockdev-add", "{\"driver\": \"qcow2\", \"node-name\": \"n3\", \"file\": {\"driver\": \"file\", \"filename\": \"DIR/a.raw\"}}")
                .has("error")).isTrue();
        both("blockdev-add", "{\"driver\": \"raw\", \"file\": {\"driver\": \"file\", \"filename\": \"DIR/a.raw\"}}");
        both("blockdev-add", raw("1bad", "DIR/a.raw", ""));
        both("blockdev-add", raw("n5", "DIR/a.raw", ", \"discard\": \"bogus\""));
        both("blockdev-add", raw("n5", "DIR/a.raw", ", \"foo\": 1"));
        both("blockdev-add", raw("n5", "DIR/a.raw", ", \"read-only\": \"yes\""));
        both("blockdev-add", "{\"driver\": \"bogus\", \"node-name\": \"n5\", \"file\": {\"driver\": \"file\", \"filename\": \"DIR/a.raw\"}}");
        both("blockdev-add", "{\"node-name\": \"n5\"}");
        both("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n6\"}");
        both("blockdev-del", "{\"node-name\": \"zz\"}");
        both("blockdev-del", "{}");
        assertThat(nodes.names()).isEmpty();
    }

    /** A node a device uses cannot be deleted: QEMU's answer comes from a real virtio-blk-pci on it. */
    @Test
    void nodeInUseIsRefusedAsQemu() throws Exception {
        pair.close();
        pair = new QmpPair(dir, List.of("-machine", "pc,accel=tcg", "-S"), s -> BlockdevCommands.install(s, nodes));
        pair.qemu.negotiated();
        pair.ours.negotiated();
        both("blockdev-add", raw("n1", "DIR/a.raw", ""));
        assertThat(pair.qemu.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"d0\", \"drive\": \"n1\"}").has("return")).isTrue();
        assertThat(nodes.claim("n1", "d0")).isTrue();
        assertThat(nodes.claim("n1", "d1")).as("a node serves one device").isFalse();
        assertThat(both("blockdev-del", "{\"node-name\": \"n1\"}").has("error")).isTrue();
        nodes.release("n1");
        assertThat(pair.ours.execute("blockdev-del", "{\"node-name\": \"n1\"}").has("return")).isTrue();
    }

    /** The node holds the image lock from blockdev-add to blockdev-del. */
    @Test
    void nodeHoldsTheImageLock() throws IOException {
        Path image = ourDir.resolve("a.raw");
        assertThat(pair.ours.execute("blockdev-add", raw("n1", image.toString(), "")).has("return")).isTrue();
        assertThatThrownBy(() -> Images.open(image, Images.Options.readWriteDefaults()).close())
                .isInstanceOf(BlockException.class).hasMessageContaining("lock");
        assertThat(pair.ours.execute("blockdev-del", "{\"node-name\": \"n1\"}").has("return")).isTrue();
        Images.open(image, Images.Options.readWriteDefaults()).close();
    }
}
