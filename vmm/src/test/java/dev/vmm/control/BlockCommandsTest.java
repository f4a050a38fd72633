package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.DiskSpec;
import dev.vmm.machine.BlockDrive;
import dev.vmm.virtio.blk.ThrottleGroup;
import dev.vmm.virtio.blk.ThrottleGroup.Limit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code query-block} and {@code block_set_io_throttle} ({@link BlockCommands}) over a real QMP
 * socket, on a {@link KvmFreeMachine} whose disks are attached by {@code vmm run}'s own code over
 * temp images (a raw one and a read-only qcow2 one made by qemu-img), against QEMU 7.2 run at test
 * time with the same disks ({@code -drive if=none,id=... -device virtio-blk-pci}): every member
 * we answer exists in QEMU's BlockInfo with the same value (paths and node names aside, which name
 * each one's own files), limits set are read back alike, and every hostile argument gets QEMU's
 * error class and text. The machine-side effect is the drive's {@link ThrottleGroup}: its limits and
 * its burst allowance, checked by what it lets through.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BlockCommandsTest {
    private static final String ZERO = "\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0";
    /** bps etc. with only bps and iops set (the other four 0). */
    private static final String TOTALS = "\"bps\":1000,\"bps_rd\":0,\"bps_wr\":0,\"iops\":30,\"iops_rd\":0,\"iops_wr\":0";

    @TempDir
    Path dir;
    @AutoClose
    private final Closer open = new Closer();
    private KvmFreeMachine machine;
    private EventQmpClient ours, qemu;

    /** Two disks each side: d0 raw 8 MiB, d1 qcow2 16 MiB read-only with cache=writethrough. */
    private void start() throws Exception {
        List<dev.vmm.config.DeviceSpec> disks = new ArrayList<>();
        List<String> qemuOpts = new ArrayList<>(List.of("-machine", "pc,accel=tcg", "-S"));
        for (String side : List.of("ours", "qemu")) {
            Path raw = dir.resolve(side + "-d0.raw"), qcow2 = dir.resolve(side + "-d1.qcow2");
            try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
                f.setLength(8 << 20);
            }
            Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "16M").inheritIO().start();
            assertThat(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0).as("qemu-img create").isTrue();
            if (side.equals("ours")) {
                disks.add(DiskSpec.parse("path=" + raw + ",format=raw,id=d0"));
                disks.add(DiskSpec.parse("path=" + qcow2 + ",format=qcow2,readonly=on,cache=writethrough,id=d1"));
            } else {
                qemuOpts.addAll(List.of("-drive", "file=" + raw + ",format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0,id=vb0",
                        "-drive", "file=" + qcow2 + ",format=qcow2,if=none,id=d1,readonly=on,cache=writethrough",
                        "-device", "virtio-blk-pci,drive=d1,id=vb1"));
            }
        }
        machine = new KvmFreeMachine(disks);
        open.add(machine);
        ours = EventQmpClient.serving(dir.resolve("qmp.sock"), open, s -> BlockCommands.install(s, () -> machine.registry));
        qemu = EventQmpClient.qemu(qemuOpts);
        open.add(qemu);
    }

    private BlockDrive drive(String id) {
        return machine.registry.drives().stream().filter(d -> d.id().equals(id)).findFirst().orElseThrow();
    }

    /** Every member of {@code ours} is in {@code qemu} with an equal value, but those named in {@code own} (only present). */
    private static void subsetOf(JsonNode ours, JsonNode qemu, String where, List<String> own) {
        for (Iterator<Map.Entry<String, JsonNode>> it = ours.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String at = where + "." + e.getKey();
            assertThat(qemu.has(e.getKey())).as("%s is in QEMU's answer %s", at, qemu).isTrue();
            JsonNode q = qemu.get(e.getKey());
            if (own.contains(e.getKey())) {
                assertThat(e.getValue().getNodeType()).as(at).isEqualTo(q.getNodeType());
            } else if (e.getValue().isObject() && !e.getKey().equals("cache")) {
                subsetOf(e.getValue(), q, at, own);
            } else {
                assertThat(e.getValue()).as("%s: ours vs QEMU's", at).isEqualTo(q);
            }
        }
    }

    private JsonNode entry(JsonNode queryBlock, String device) {
        for (JsonNode b : queryBlock.get("return")) if (b.path("device").asText().equals(device)) return b;
        throw new AssertionError("no " + device + " in " + queryBlock);
    }

    private void sameQueryBlock() throws Exception {
        JsonNode o = ours.execute("query-block", null), q = qemu.execute("query-block", null);
        assertThat(o.get("return")).hasSize(q.get("return").size());
        for (String d : List.of("d0", "d1")) subsetOf(entry(o, d), entry(q, d), d, List.of("file", "filename", "node-name", "qdev"));
    }

    @Test
    void queryBlockAnswersAsQemuWithEachDrivesOwnFacts() throws Exception {
        start();
        sameQueryBlock();
        JsonNode o = ours.execute("query-block", null);
        for (String id : List.of("d0", "d1")) {
            JsonNode e = entry(o, id), inserted = e.get("inserted");
            BlockDrive d = drive(id);
            assertThat(inserted.get("file").asText()).isEqualTo(d.spec().path().toString());
            assertThat(inserted.get("image").get("filename").asText()).isEqualTo(d.spec().path().toString());
            assertThat(inserted.get("node-name").asText()).isEqualTo(id);
            assertThat(e.get("qdev").asText()).isEqualTo(d.pci().toString());
        }
        assertThat(entry(o, "d1").get("inserted").get("ro").asBoolean()).isTrue();
        assertThat(entry(o, "d1").get("inserted").get("image").get("virtual-size").asLong()).isEqualTo(16 << 20);
        assertThat(ours.execute("query-block", "{\"bogus\": 1}")).isEqualTo(qemu.execute("query-block", "{\"bogus\": 1}"));
    }

    @Test
    void limitsSetAreReadBackAsQemuReadsThemAndTakeEffect() throws Exception {
        start();
        String totals = "{\"device\":\"d0\"," + TOTALS + "}";
        assertThat(ours.execute("block_set_io_throttle", totals)).isEqualTo(qemu.execute("block_set_io_throttle", totals));
        String directions = "{\"device\":\"d1\",\"bps\":0,\"bps_rd\":100,\"bps_wr\":200,\"iops\":0,\"iops_rd\":3,\"iops_wr\":4}";
        assertThat(ours.execute("block_set_io_throttle", directions)).isEqualTo(qemu.execute("block_set_io_throttle", directions));
        sameQueryBlock();
        ThrottleGroup t0 = drive("d0").throttle(), t1 = drive("d1").throttle();
        assertThat(List.of(t0.limit(Limit.TOTAL_BYTES), t0.limit(Limit.READ_BYTES), t0.limit(Limit.WRITE_BYTES),
                t0.limit(Limit.TOTAL_OPS), t0.limit(Limit.READ_OPS), t0.limit(Limit.WRITE_OPS))).containsExactly(1000L, 0L, 0L, 30L, 0L, 0L);
        assertThat(List.of(t1.limit(Limit.TOTAL_BYTES), t1.limit(Limit.READ_BYTES), t1.limit(Limit.WRITE_BYTES),
                t1.limit(Limit.TOTAL_OPS), t1.limit(Limit.READ_OPS), t1.limit(Limit.WRITE_OPS))).containsExactly(0L, 100L, 200L, 0L, 3L, 4L);
        // 'id' names the drive too, and all zeros lifts every limit.
        assertThat(ours.execute("block_set_io_throttle", "{\"id\":\"d1\"," + ZERO + "}").has("return")).isTrue();
        assertThat(t1.enabled()).isFalse();
        assertThat(entry(ours.execute("query-block", null), "d1").get("inserted").get("bps_wr").asLong()).isZero();
    }

    /** The bucket holds {@code expected} units: {@code expected - 500} and then 400 more pass at once, a further 2000 must wait. */
    private static void holds(ThrottleGroup t, long expected) {
        assertThat(t.reserve(false, expected - 500)).as("first %d of a %d burst", expected - 500, expected).isZero();
        assertThat(t.reserve(false, 400)).as("400 more within the burst of %d", expected).isZero();
        assertThat(t.reserve(false, 2000)).as("beyond the burst of %d", expected).isPositive();
    }

    @Test
    void aBurstRateAndLengthBecomeTheBucketsAllowance() throws Exception {
        start();
        // bps 1000 with bps_max 4000 for 3 s: a bucket of 4000 x 3 = 12000 bytes.
        String burst = "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":4000,\"bps_max_length\":3}";
        assertThat(ours.execute("block_set_io_throttle", burst)).isEqualTo(qemu.execute("block_set_io_throttle", burst));
        holds(drive("d0").throttle(), 12_000);
        JsonNode q = entry(qemu.execute("query-block", null), "d0").get("inserted");
        assertThat(q.get("bps_max").asLong()).isEqualTo(4000);      // QEMU keeps it (we answer the limits only)
        // bps_rd 1 with a burst of 10000 for 3600 s: held to 3600 s of the limit (3600 bytes).
        String capped = "{\"device\":\"d1\",\"bps\":0,\"bps_rd\":1,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0,"
                + "\"bps_rd_max\":10000,\"bps_rd_max_length\":3600}";
        assertThat(ours.execute("block_set_io_throttle", capped)).isEqualTo(qemu.execute("block_set_io_throttle", capped));
        holds(drive("d1").throttle(), 3600);
        // bps_wr_max equal to bps_wr, one second: the plain one-second bucket.
        String plain = "{\"device\":\"d1\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}";
        ours.execute("block_set_io_throttle", plain);
        String same = "{\"device\":\"d1\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":2600,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0,\"bps_wr_max\":2600}";
        assertThat(ours.execute("block_set_io_throttle", same)).isEqualTo(qemu.execute("block_set_io_throttle", same));
        ThrottleGroup t1 = drive("d1").throttle();
        assertThat(t1.reserve(true, 2100)).isZero();
        assertThat(t1.reserve(true, 400)).isZero();
        assertThat(t1.reserve(true, 2000)).isPositive();
    }

    @Test
    void hostileArgumentsGetQemusErrorsAndChangeNothing() throws Exception {
        start();
        List<String> hostile = List.of(
                "{\"device\":\"d0\"}",                                                        // every limit missing
                "{\"device\":\"d0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0}", // the last one missing
                "{\"device\":\"d0\",\"bps\":\"x\",\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":1.5,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":true,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":null,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":9223372036854775808,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\"," + ZERO + ",\"bps_max\":null}",
                "{\"device\":\"d0\"," + ZERO + ",\"iops_wr_max_length\":\"1\"}",
                "{\"device\":\"d0\"," + ZERO + ",\"iops_size\":[]}",
                "{\"device\":7," + ZERO + "}",
                "{\"device\":\"d0\"," + ZERO + ",\"group\":7}",
                "{\"device\":\"d0\"," + ZERO + ",\"bogus\":1}",
                "{\"device\":\"nope\"," + ZERO + "}",                                          // unknown drive
                "{" + ZERO + "}",                                                               // no drive named
                "{\"device\":\"d0\",\"id\":\"d0\"," + ZERO + "}",                               // both
                "{\"device\":\"d0\",\"bps\":-1,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":1000000000000001}",
                "{\"device\":\"d0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":1000000000000000}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":-5}",
                "{\"device\":\"d0\"," + TOTALS + ",\"iops_max\":1000000000000001}",
                "{\"device\":\"d0\",\"bps\":1000,\"bps_rd\":10,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}",
                "{\"device\":\"d0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":5,\"iops_rd\":0,\"iops_wr\":6}",
                "{\"device\":\"d0\"," + ZERO + ",\"bps_max\":10,\"bps_wr_max\":10}",
                "{\"device\":\"d0\"," + ZERO + ",\"iops_max\":10,\"iops_rd_max\":10}",
                "{\"device\":\"d0\"," + ZERO + ",\"iops_size\":512}",
                "{\"device\":\"d0\"," + ZERO + ",\"bps_max\":100}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":999}",
                "{\"device\":\"d0\"," + TOTALS + ",\"iops_max\":29}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":2000,\"bps_max_length\":0}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max_length\":5}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max_length\":-1}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":2000,\"bps_max_length\":-1}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":500000000000000,\"bps_max_length\":3}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":500000000000000,\"bps_max_length\":2}",
                "{\"device\":\"d0\"," + TOTALS + ",\"bps_max\":1000000000000000}");
        for (String args : hostile) {
            JsonNode q = qemu.execute("block_set_io_throttle", args);
            JsonNode o = ours.execute("block_set_io_throttle", args);
            assertThat(o).as("block_set_io_throttle %s: ours vs QEMU's", args).isEqualTo(q);
            if (q.has("return")) {                      // the two QEMU accepts: put d0 back to no limits on both
                qemu.execute("block_set_io_throttle", "{\"device\":\"d0\"," + ZERO + "}");
                ours.execute("block_set_io_throttle", "{\"device\":\"d0\"," + ZERO + "}");
            }
        }
        assertThat(drive("d0").throttle().enabled()).as("no refused call left a limit").isFalse();
        assertThat(drive("d1").throttle().enabled()).isFalse();
        sameQueryBlock();
    }

    @Test
    void whatQemuTakesAndWeDoNotIsRefusedByName() throws Exception {
        start();
        // A shared throttle group and iops_size: QEMU accepts both; here they are refused, after QEMU's own checks.
        String group = "{\"device\":\"d0\"," + TOTALS + ",\"group\":\"g1\"}";
        assertThat(qemu.execute("block_set_io_throttle", group).has("return")).isTrue();
        assertThat(ours.execute("block_set_io_throttle", group).get("error").get("desc").asText())
                .isEqualTo("throttle groups shared between drives are not supported");
        String size = "{\"device\":\"d0\"," + TOTALS + ",\"iops_size\":4096}";
        assertThat(qemu.execute("block_set_io_throttle", size).has("return")).isTrue();
        assertThat(ours.execute("block_set_io_throttle", size).get("error").get("desc").asText()).isEqualTo("iops_size is not supported");
        assertThat(drive("d0").throttle().enabled()).isFalse();
        // The drive's own name as the group is its own group: accepted.
        assertThat(ours.execute("block_set_io_throttle", "{\"device\":\"d0\"," + TOTALS + ",\"group\":\"d0\"}").has("return")).isTrue();
        assertThat(drive("d0").throttle().limit(Limit.TOTAL_OPS)).isEqualTo(30);
    }

    @Test
    void aMachineWithoutDevicesHasNoDrives() throws Exception {
        QmpServer server = new QmpServer(dir.resolve("none.sock"), "test");
        BlockCommands.install(server, () -> null);
        server.start();
        open.add(server::close);
        EventQmpClient c = EventQmpClient.ours(server.path());
        open.add(c);
        assertThat(c.execute("query-block", null).get("return")).isEmpty();
        JsonNode r = c.execute("block_set_io_throttle", "{\"device\":\"d0\"," + ZERO + "}");
        assertThat(r.get("error").get("class").asText()).isEqualTo("DeviceNotFound");
        assertThat(r.get("error").get("desc").asText()).isEqualTo("Device 'd0' not found");
    }
}
