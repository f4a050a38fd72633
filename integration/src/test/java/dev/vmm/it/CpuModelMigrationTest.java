package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #14, test 5: the CPU model travels with a live migration. A destination started with the
 * same {@code --cpu} takes the guest over; one started with a narrower model (a feature the guest
 * has turned off) refuses before the switch-over, naming the feature, and the source keeps running.
 */
class CpuModelMigrationTest {
    private static final String MODEL = "Haswell-noTSX";
    private static final String GUEST = "mib=4 rate=5 secs=0 mark_ms=300";

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvmAndGuestKit();
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aNarrowerDestinationIsRefusedAndTheSameModelTakesOver(@TempDir Path dir) throws Exception {
        Path kernel = GuestKit.get().image("counter", GuestKit.Format.PVH);
        Path srcSock = dir.resolve("src.qmp"), srcOut = dir.resolve("src.txt");
        List<Process> processes = new ArrayList<>();
        try {
            Process src = new ProcessBuilder(List.of(Vmm.binary().toString(), "run", "--kernel", kernel.toString(),
                    "--cmdline", GUEST, "--memory", "128M", "--cpu", MODEL, "--qmp", "unix:" + srcSock))
                    .redirectErrorStream(true).redirectOutput(srcOut.toFile()).start();
            processes.add(src);
            Waits.waitFor(() -> Files.readString(srcOut).contains("counter: mark 2 "), 60, "the source guest runs");
            try (QmpTest.Client c = new QmpTest.Client(srcSock)) {
                c.read();
                c.execute("qmp_capabilities");

                // A destination whose CPU lacks avx2, which the guest's Haswell-noTSX has.
                int narrowPort = Waits.freePort();
                Path narrowOut = dir.resolve("narrow.txt");
                processes.add(Waits.incoming(dir, "narrow", narrowPort, "--cpu", MODEL + ",-avx2"));
                JsonNode r = c.execute("migrate", "{\"uri\":\"tcp:127.0.0.1:" + narrowPort + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                JsonNode stats = untilFinal(c);
                assertThat(stats.path("status").asText()).as(stats.toString()).isEqualTo("failed");
                assertThat(stats.path("error-desc").asText() + Files.readString(narrowOut)).as(stats.toString()).contains("avx2");
                assertThat(c.execute("query-status").at("/return/status").asText()).isEqualTo("running");
                String before = Files.readString(srcOut);
                Waits.waitFor(() -> Files.readString(srcOut).length() > before.length()
                        && Files.readString(srcOut).substring(before.length()).contains("counter: mark "), 30, "the source goes on counting");

                // The same model: the migration completes.
                int samePort = Waits.freePort();
                processes.add(Waits.incoming(dir, "same", samePort, "--cpu", MODEL));
                r = c.execute("migrate", "{\"uri\":\"tcp:127.0.0.1:" + samePort + "\"}");
                assertThat(r.has("return")).as(r.toString()).isTrue();
                stats = untilFinal(c);
                assertThat(stats.path("status").asText()).as(stats.toString()).isEqualTo("completed");
                c.execute("quit");
            }
            Path sameSock = dir.resolve("same.qmp"), sameOut = dir.resolve("same.txt");
            try (QmpTest.Client d = new QmpTest.Client(sameSock)) {
                d.read();
                d.execute("qmp_capabilities");
                d.execute("cont");
                String before = Files.readString(sameOut);
                Waits.waitFor(() -> Files.readString(sameOut).length() > before.length()
                        && Files.readString(sameOut).substring(before.length()).contains("counter: mark "), 60, "the destination counts on");
                d.execute("quit");
            }
        } finally {
            processes.forEach(Process::destroyForcibly);
        }
    }

    private static JsonNode untilFinal(QmpTest.Client c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        JsonNode stats;
        do {
            Thread.sleep(200);
            stats = c.execute("query-migrate").get("return");
            assertThat(System.nanoTime()).as("migration ends: %s", stats).isLessThan(deadline);
        } while (!List.of("completed", "failed", "cancelled").contains(stats.path("status").asText()));
        return stats;
    }
}
