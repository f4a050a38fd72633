package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Live migration between two vmm processes over a UNIX socket, driven through QMP as QEMU's tools
 * would. The memtest guest keeps rewriting and verifying patterns over its RAM while it is
 * migrated: the destination must finish every pass with every pattern intact, which it only can
 * if RAM (including pages the dirty log misses on this host) and CPU state arrived exactly.
 */
class MigrationTest {
    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    @Test
    void memtestKeepsVerifyingAcrossAMigration(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("src.qmp");
        Path mig = dir.resolve("mig.sock");
        Path kernel = GuestKit.get().image("memtest", GuestKit.Format.PVH);
        Process dst = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--incoming", "unix:" + mig,
                "--memory", "48M")).redirectErrorStream(true).redirectOutput(dir.resolve("dst.txt").toFile()).start();
        Process src = null;
        try {
            for (int i = 0; i < 600 && !Files.exists(mig); i++) Thread.sleep(50);
            src = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                    "--cmdline", "passes=1200 max_mib=16", "--memory", "48M", "--qmp", "unix:" + sock))
                    .redirectErrorStream(true).redirectOutput(dir.resolve("src.txt").toFile()).start();
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            JsonNode stats;
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                Thread.sleep(500);
                assertThat(c.execute("query-migrate-capabilities").get("return").isArray()).isTrue();
                stats = c.migrateToCompletion("unix:" + mig, () -> "");
                assertThat(c.events).anyMatch(e -> e.path("event").asText().equals("MIGRATION")
                        && e.at("/data/status").asText().equals("completed"));
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("paused");
                c.execute("quit");
            }
            assertThat(src.waitFor(30, TimeUnit.SECONDS)).isTrue();
            // QEMU's field names and sane values.
            assertThat(stats.at("/ram/total").asLong()).isEqualTo(48L << 20);
            assertThat(stats.at("/ram/transferred").asLong()).isGreaterThanOrEqualTo(stats.at("/ram/normal").asLong() * 4096);
            assertThat(stats.at("/ram/dirty-sync-count").asLong()).isGreaterThanOrEqualTo(1);
            assertThat(stats.path("total-time").asLong()).isPositive();
            assertThat(stats.has("downtime")).isTrue();
            assertThat(stats.path("x-dirty-log-mode").asText()).isIn("kvm", "verified");

            assertThat(dst.waitFor(180, TimeUnit.SECONDS)).as(read(dir, "dst.txt")).isTrue();
            String out = read(dir, "dst.txt");
            assertThat(dst.exitValue()).as(out).isZero();
            assertThat(out).contains("incoming migration complete", "1200 pass(es)", "ok", "EXIT 0");
            assertThat(read(dir, "src.txt")).doesNotContain("EXIT 0");
        } finally {
            if (src != null) src.destroyForcibly();
            dst.destroyForcibly();
        }
    }

    @Test
    void sourceKeepsRunningWhenTheDestinationIsGone(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("src.qmp");
        Path kernel = GuestKit.get().image("memtest", GuestKit.Format.PVH);
        Process src = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                "--cmdline", "passes=100000", "--memory", "32M", "--qmp", "unix:" + sock))
                .redirectErrorStream(true).redirectOutput(dir.resolve("src.txt").toFile()).start();
        try {
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                JsonNode r = c.execute("migrate", "{\"uri\":\"unix:" + dir.resolve("nobody.sock") + "\"}");
                assertThat(r.at("/error/desc").asText()).contains("Failed to connect");
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("running");
                c.execute("quit");
            }
            assertThat(src.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            src.destroyForcibly();
        }
    }

    /**
     * The destination process is killed (SIGKILL) during the iterative phase, which a bandwidth
     * limit keeps going for many seconds: the source notices, reports {@code failed} (query-migrate
     * and a MIGRATION event), was never paused, and its guest finishes its passes intact.
     */
    @Test
    void sourceKeepsRunningWhenTheDestinationIsKilledMidMigration(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("src.qmp");
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path kernel = GuestKit.get().image("memtest", GuestKit.Format.PVH);
        Process dst = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--incoming", "tcp:127.0.0.1:" + port,
                "--memory", "48M")).redirectErrorStream(true).redirectOutput(dir.resolve("dst.txt").toFile()).start();
        Process src = null;
        try {
            for (int i = 0; i < 600 && !read(dir, "dst.txt").contains("waiting for an incoming migration"); i++) Thread.sleep(50);
            src = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                    "--cmdline", "passes=600 max_mib=16", "--memory", "48M", "--qmp", "unix:" + sock))
                    .redirectErrorStream(true).redirectOutput(dir.resolve("src.txt").toFile()).start();
            for (int i = 0; i < 600 && !Files.exists(sock); i++) Thread.sleep(50);
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                c.execute("migrate-set-parameters", "{\"max-bandwidth\":1048576}");   // 16 MiB of patterns: ~16 s of pre-copy
                JsonNode r = c.execute("migrate", "{\"uri\":\"tcp:127.0.0.1:" + port + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                JsonNode stats;
                long started = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);  // 1 MiB at 1 MiB/s: ~1 s
                do {
                    Thread.sleep(100);
                    stats = c.execute("query-migrate").get("return");
                    assertThat(System.nanoTime() - started < 0).as("1 MiB not sent within 60 s: %s", stats).isTrue();
                } while (stats.path("status").asText().equals("setup") || stats.at("/ram/transferred").asLong() < (1 << 20));
                assertThat(stats.path("status").asText()).as(stats.toString()).isEqualTo("active");
                dst.destroyForcibly();                                      // SIGKILL, mid pre-copy
                assertThat(dst.waitFor(10, TimeUnit.SECONDS)).isTrue();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                do {
                    Thread.sleep(100);
                    stats = c.execute("query-migrate").get("return");
                } while (!stats.path("status").asText().equals("failed") && System.nanoTime() < deadline);
                assertThat(stats.path("status").asText()).as(stats.toString()).isEqualTo("failed");
                assertThat(stats.path("error-desc").asText()).isNotEmpty();
                c.execute("query-status");                                  // collects the events sent meanwhile
                assertThat(c.events).anyMatch(e -> e.path("event").asText().equals("MIGRATION")
                        && e.at("/data/status").asText().equals("failed"));
                assertThat(c.events).noneMatch(e -> e.path("event").asText().equals("STOP"));
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("running");
            }
            // The guest on the source keeps running and finishes every pass with its patterns intact.
            assertThat(src.waitFor(180, TimeUnit.SECONDS)).as(read(dir, "src.txt")).isTrue();
            assertThat(read(dir, "src.txt")).contains("600 pass(es)", "ok", "EXIT 0").doesNotContain("MISMATCH");
        } finally {
            if (src != null) src.destroyForcibly();
            dst.destroyForcibly();
        }
    }

    private static String read(Path dir, String f) throws Exception {
        return Files.readString(dir.resolve(f), StandardCharsets.UTF_8);
    }
}
