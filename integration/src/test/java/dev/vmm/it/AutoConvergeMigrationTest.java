package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Auto-converge slows a real guest: the counter guest dirties RAM far faster than max-bandwidth
 * lets the migration send it, and loses the time it does not run ({@code catchup=0}), so its dirty
 * rate follows the share of time its vCPU runs. Without auto-converge the migration never gets the
 * remaining dirty RAM under the downtime limit; with it the vCPU throttle rises until it does.
 */
class AutoConvergeMigrationTest {
    /** 16 MiB dirtied 10 times a second while the vCPU runs: 160 MiB/s against 8 MiB/s of bandwidth. */
    private static final String GUEST = "mib=16 rate=1000 secs=0 mark_ms=500 catchup=0";
    private static final long BANDWIDTH = 8L << 20;

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void migrationConvergesWithAutoConvergeAndNotWithout(@TempDir Path dir) throws Exception {
        Path kernel = GuestKit.get().image("counter", GuestKit.Format.PVH);
        Path srcSock = dir.resolve("src.qmp"), srcOut = dir.resolve("src.txt");
        Process src = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                "--cmdline", GUEST, "--memory", "128M", "--qmp", "unix:" + srcSock))
                .redirectErrorStream(true).redirectOutput(srcOut.toFile()).start();
        Process dst1 = null, dst2 = null;
        try {
            Waits.waitFor(() -> Files.readString(srcOut).contains("counter: mark 2 "), 60, "the source guest runs: " + srcOut);
            try (QmpTest.Client c = new QmpTest.Client(srcSock)) {
                c.read();
                c.execute("qmp_capabilities");
                c.execute("migrate-set-parameters", "{\"max-bandwidth\":" + BANDWIDTH + ",\"downtime-limit\":300,"
                        + "\"cpu-throttle-initial\":50,\"cpu-throttle-increment\":20}");

                // Without auto-converge: still active after 30 s of rounds, then cancelled; the guest runs on.
                int port1 = Waits.freePort();
                dst1 = Waits.incoming(dir, "dst1", port1);
                JsonNode r = c.execute("migrate", "{\"uri\":\"tcp:127.0.0.1:" + port1 + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                JsonNode stats;
                do {
                    Thread.sleep(500);
                    stats = c.execute("query-migrate").get("return");
                    assertThat(stats.path("status").asText()).as("without auto-converge: %s", stats).isEqualTo("active");
                    assertThat(stats.has("cpu-throttle-percentage")).as("no throttle without auto-converge: %s", stats).isFalse();
                } while (System.nanoTime() < deadline);
                assertThat(stats.at("/ram/dirty-sync-count").asLong()).as("rounds went on: %s", stats).isGreaterThanOrEqualTo(3);
                c.execute("migrate_cancel");
                Waits.waitFor(() -> c.execute("query-migrate").get("return").path("status").asText().equals("cancelled"), 30, "cancelled");
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("running");

                // With auto-converge: the throttle rises and the migration completes.
                c.execute("migrate-set-capabilities", "{\"capabilities\":[{\"capability\":\"auto-converge\",\"state\":true}]}");
                int port2 = Waits.freePort();
                dst2 = Waits.incoming(dir, "dst2", port2);
                r = c.execute("migrate", "{\"uri\":\"tcp:127.0.0.1:" + port2 + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                long maxThrottle = 0;
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
                do {
                    Thread.sleep(200);
                    stats = c.execute("query-migrate").get("return");
                    maxThrottle = Math.max(maxThrottle, stats.path("cpu-throttle-percentage").asLong());
                    assertThat(System.nanoTime()).as("with auto-converge the migration completes: %s", stats).isLessThan(deadline);
                } while (!List.of("completed", "failed", "cancelled").contains(stats.path("status").asText()));
                assertThat(stats.path("status").asText()).as(stats.toString()).isEqualTo("completed");
                assertThat(maxThrottle).as("the vCPUs were throttled on the way").isGreaterThanOrEqualTo(50);
                assertThat(stats.path("downtime").asLong()).as(stats.toString()).isLessThanOrEqualTo(300 + 200);
                c.execute("quit");
            }
            Path dst2Out = dir.resolve("dst2.txt");
            Path dst2Sock = dir.resolve("dst2.qmp");
            Waits.waitFor(() -> Files.exists(dst2Sock), 30, "destination QMP socket");
            try (QmpTest.Client d = new QmpTest.Client(dst2Sock)) {
                d.read();
                d.execute("qmp_capabilities");
                d.execute("cont");
                // The guest goes on counting on the destination.
                String before = Files.readString(dst2Out);
                Waits.waitFor(() -> Files.readString(dst2Out).length() > before.length()
                        && Files.readString(dst2Out).substring(before.length()).contains("counter: mark "), 60, "destination counts on");
                d.execute("quit");
            }
            assertThat(dst2.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            src.destroyForcibly();
            if (dst1 != null) dst1.destroyForcibly();
            if (dst2 != null) dst2.destroyForcibly();
        }
    }
}
