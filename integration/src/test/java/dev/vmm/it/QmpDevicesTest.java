package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Run-time device QMP commands against a running guest, with QEMU's names and argument shapes:
 * {@code query-block}, {@code block_set_io_throttle} (the guest kit's blk guest measures its
 * request rate every 500 ms while the limit is raised mid-run), and virtio-console port hot-plug
 * ({@code chardev-add} + {@code device_add virtserialport} / {@code device_del} +
 * {@code chardev-remove}).
 *
 * <p>Limit: the port hot-plug is checked from the host side only (the command succeeds, the socket
 * appears and accepts a client, goes away with {@code device_del}, errors are clear); the guest
 * kit has no virtio-console driver, so the DEVICE_ADD / PORT_NAME messages the guest receives are
 * covered by {@code VirtioConsoleTest} (hot-add after DRIVER_OK, remove) instead.
 */
class QmpDevicesTest {
    private static final Pattern INTERVAL = Pattern.compile("blk: interval ops=(\\d+) bytes=\\d+ us=(\\d+)");

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    /** The guest's "interval" lines as {ops, microseconds} pairs. */
    private static List<long[]> intervals(String out) {
        List<long[]> r = new ArrayList<>();
        Matcher m = INTERVAL.matcher(out);
        while (m.find()) r.add(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))});
        return r;
    }

    /** Requests per second over a run of intervals (a sum, so a stall and its catch-up burst cancel). */
    private static double rate(List<long[]> iv) {
        long ops = 0, us = 0;
        for (long[] x : iv) {
            ops += x[0];
            us += x[1];
        }
        return ops * 1e6 / Math.max(1, us);
    }

    private static String args(long iops) {
        return "{\"device\":\"data0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":" + iops + ",\"iops_rd\":0,\"iops_wr\":0}";
    }

    @Test
    void throttleChangedMidRunAndConsolePortHotPlug(@TempDir Path dir) throws Exception {
        Path disk = GuestKitBlkVmmTest.rawDisk(dir, "d.img", 16 << 20);
        Path sock = dir.resolve("qmp.sock");
        Path out = dir.resolve("out.txt");
        List<String> cmd = List.of(Vmm.binary().toString(), "run",
                "--kernel", GuestKit.get().image("blk", GuestKit.Format.PVH).toString(),
                "--cmdline", "mode=rate secs=11 bs=4K report_ms=500",
                "--disk", "path=" + disk + ",iops=200,id=data0",
                "--console-port", "name=boot.port,file=" + dir.resolve("boot.port"),
                "--qmp", "unix:" + sock);
        int before;
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            assertThat(sock).exists();
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");

                // query-block: the drive under its --disk id, with its limit.
                JsonNode blk = c.execute("query-block").get("return").get(0);
                assertThat(blk.get("device").asText()).isEqualTo("data0");
                assertThat(blk.at("/inserted/iops").asLong()).isEqualTo(200);
                assertThat(blk.at("/inserted/image/virtual-size").asLong()).isEqualTo(16 << 20);
                assertThat(blk.at("/inserted/drv").asText()).isEqualTo("raw");

                // Errors are QEMU's classes and clear sentences.
                assertThat(c.execute("block_set_io_throttle", args(5).replace("data0", "nope")).at("/error/class").asText())
                        .isEqualTo("DeviceNotFound");
                assertThat(c.execute("block_set_io_throttle", "{\"device\":\"data0\",\"bps\":0}").at("/error/desc").asText())
                        .isEqualTo("Parameter 'bps_rd' is missing");
                assertThat(c.execute("block_set_io_throttle",
                        "{\"id\":\"data0\",\"bps\":0,\"bps_rd\":0,\"bps_wr\":0,\"iops\":10,\"iops_rd\":5,\"iops_wr\":0}")
                        .at("/error/desc").asText()).contains("cannot be used at the same time");

                // Wait for a few intervals at 200 IOPS (the first ones also spend the burst allowance).
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (intervals(Files.readString(out)).size() < 6 && System.nanoTime() < deadline) Thread.sleep(100);
                before = intervals(Files.readString(out)).size();
                assertThat(before).as(Files.readString(out)).isGreaterThanOrEqualTo(6);
                assertThat(c.execute("block_set_io_throttle", args(1000)).has("return")).isTrue();
                assertThat(c.execute("query-block").at("/return/0/inserted/iops").asLong()).isEqualTo(1000);

                // Console port hot-plug while the guest runs.
                Path port = dir.resolve("agent.sock");
                assertThat(c.execute("chardev-add", "{\"id\":\"ch1\",\"backend\":{\"type\":\"socket\",\"data\":{"
                        + "\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"" + port + "\"}},\"server\":true,\"wait\":false}}}")
                        .has("return")).isTrue();
                assertThat(port).as("chardev-add binds the socket").exists();
                assertThat(c.execute("chardev-add", "{\"id\":\"ch1\",\"backend\":{\"type\":\"file\",\"data\":{\"out\":\"/tmp/x\"}}}")
                        .at("/error/desc").asText()).isEqualTo("Chardev with id 'ch1' already exists"); // QEMU's text
                assertThat(c.execute("chardev-add", "{\"id\":\"ch2\",\"backend\":{\"type\":\"pty\",\"data\":{}}}")
                        .at("/error/desc").asText()).contains("'pty' is not supported");
                assertThat(c.execute("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"ch1\",\"name\":\"org.example.agent\",\"id\":\"p1\"}")
                        .has("return")).isTrue();
                try (SocketChannel client = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                    client.connect(UnixDomainSocketAddress.of(port)); // served: a client may connect
                }
                // QEMU's frontend-open: whether the guest opened the port (this guest never does)
                assertThat(c.execute("query-chardev").get("return").get(0).get("frontend-open").asBoolean()).isFalse();
                assertThat(c.execute("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"ch1\",\"id\":\"p2\"}")
                        .at("/error/desc").asText()).contains("is in use");
                assertThat(c.execute("device_add", "{\"driver\":\"virtserialport\",\"chardev\":\"nochar\",\"id\":\"p3\"}")
                        .at("/error/desc").asText()).contains("can't find value 'nochar'");
                assertThat(c.execute("chardev-remove", "{\"id\":\"ch1\"}").at("/error/desc").asText()).isEqualTo("Chardev 'ch1' is busy");
                assertThat(c.execute("device_del", "{\"id\":\"p1\"}").has("return")).isTrue();
                assertThat(c.events).anyMatch(e -> e.get("event").asText().equals("DEVICE_DELETED")
                        && e.at("/data/device").asText().equals("p1"));
                for (int i = 0; i < 100 && Files.exists(port); i++) Thread.sleep(20);
                assertThat(port).as("the port's socket goes with device_del").doesNotExist();
                assertThat(c.execute("device_del", "{\"id\":\"p1\"}").at("/error/class").asText()).isEqualTo("DeviceNotFound");
                assertThat(c.execute("chardev-remove", "{\"id\":\"ch1\"}").has("return")).isTrue();
                assertThat(c.execute("query-chardev").get("return").size()).isZero();
            }
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            String text = Files.readString(out);
            assertThat(p.exitValue()).as(text).isZero();
            List<long[]> rates = intervals(text);
            // The guest times intervals with its TSC, whose rate it calibrates against the PIT; on a
            // loaded host that estimate can be off by tens of percent, and a stalled vCPU gets a
            // catch-up burst afterwards, so compare the two phases' aggregate rates (same clock).
            // Under 200 IOPS: the intervals printed before the change, after the first three (which
            // also spend the burst allowance); under 1000: from the one after the change (the one in
            // progress at the change is in neither) to the last full one.
            double slow = rate(rates.subList(3, before));
            double fast = rate(rates.subList(before + 1, rates.size() - 1));
            assertThat(fast / slow).as("rate after / before raising iops from 200 to 1000: %.0f / %.0f%n%s", fast, slow, text)
                    .isBetween(3.5, 6.5);
        } finally {
            p.destroyForcibly();
        }
    }
}
