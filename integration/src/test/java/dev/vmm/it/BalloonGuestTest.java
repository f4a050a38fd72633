package dev.vmm.it;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16 test 1 on the smoke kernel (its virtio_balloon driver): a 512 MiB guest whose RAM is
 * all resident ({@code prealloc=on}) waits for a root device that never comes ({@code rootwait}),
 * so its kernel keeps running; {@code balloon 256M} over QMP → the driver inflates, query-balloon
 * and BALLOON_CHANGE say 256 MiB, and the VMM's RSS ({@code /proc/PID/smaps_rollup}) drops by at
 * least 200 MiB; the guest's statistics arrive with a polling interval; {@code balloon 512M}
 * deflates again. AnonHugePages before/after are printed (figures for docs/balloon.md; khugepaged
 * timing is the host's, so not asserted). Needs /dev/kvm.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class BalloonGuestTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);
    private static final long MIB = 1 << 20;

    @BeforeAll
    static void needsKvm() {
        GuestNeeds.kvm();
    }

    /** A field of /proc/PID/smaps_rollup in bytes. */
    private static long rollup(long pid, String field) throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (l.startsWith(field + ":")) return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
        }
        throw new AssertionError(field + " not in smaps_rollup");
    }

    private static long actual(QmpTest.Client c) throws Exception {
        return c.execute("query-balloon").at("/return/actual").asLong();
    }

    /** Polls until the balloon leaves the guest {@code want} bytes (± 4 MiB) or the deadline passes. */
    private static boolean actualReaches(QmpTest.Client c, long want, Duration within) throws Exception {
        long end = System.nanoTime() + within.toNanos();
        while (System.nanoTime() - end < 0) {
            if (Math.abs(actual(c) - want) <= 4 * MIB) return true;
            Thread.sleep(200);
        }
        return Math.abs(actual(c) - want) <= 4 * MIB;
    }

    @Test
    void inflateGivesRamBackToTheHostAndDeflateTakesItAgain(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("qmp.sock");
        List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", SmokeKernel.vmlinux().toString(),
                "--memory", "512M,prealloc=on", "--cpus", "1", "--balloon", "--qmp", "unix:" + sock,
                "--cmdline", SmokeKernel.defaultCmdline("root=/dev/vdb rootwait"));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        try (ConsoleWatcher console = ConsoleWatcher.watch(p.getInputStream(), t0, null)) {
            ConsoleWatcher.Result r = console.await(BOOT_BUDGET, ConsoleWatcher.Milestone.of("rootwait", "Waiting for root device"));
            assertThat(r.allSeen()).as("the kernel waits for its root:\n%s", r.describe(40)).isTrue();
            try (QmpTest.Client c = new QmpTest.Client(sock)) {
                c.read();
                c.execute("qmp_capabilities");
                assertThat(actual(c)).isEqualTo(512 * MIB);
                long rssBefore = rollup(p.pid(), "Rss"), thpBefore = rollup(p.pid(), "AnonHugePages");
                assertThat(c.execute("qom-set", "{\"path\": \"/machine/peripheral-anon/device[0]\", "
                        + "\"property\": \"guest-stats-polling-interval\", \"value\": 2}").has("return")).isTrue();

                assertThat(c.execute("balloon", "{\"value\": " + 256 * MIB + "}").has("return")).isTrue();
                assertThat(actualReaches(c, 256 * MIB, Duration.ofMinutes(5))).as("query-balloon: %s", actual(c)).isTrue();
                assertThat(c.events).anyMatch(e -> e.path("event").asText().equals("BALLOON_CHANGE"));
                long rssInflated = rollup(p.pid(), "Rss");
                assertThat(rssBefore - rssInflated).as("RSS %d → %d", rssBefore, rssInflated).isGreaterThanOrEqualTo(200 * MIB);

                long end = System.nanoTime() + Duration.ofMinutes(2).toNanos();
                JsonNode stats;
                do {
                    Thread.sleep(500);
                    stats = c.execute("qom-get", "{\"path\": \"/machine/peripheral-anon/device[0]\", \"property\": \"guest-stats\"}")
                            .get("return");
                } while (stats.path("last-update").asLong() == 0 && System.nanoTime() - end < 0);
                assertThat(stats.path("last-update").asLong()).as("stats: %s", stats).isPositive();
                assertThat(stats.at("/stats/stat-total-memory").asLong()).as("stats: %s", stats).isBetween(64 * MIB, 512 * MIB);

                assertThat(c.execute("balloon", "{\"value\": " + 512 * MIB + "}").has("return")).isTrue();
                assertThat(actualReaches(c, 512 * MIB, Duration.ofMinutes(5))).as("query-balloon: %s", actual(c)).isTrue();
                System.out.printf("balloon figures: Rss %d MiB → %d MiB after balloon 256M; AnonHugePages %d MiB before, %d MiB after deflate%n",
                        rssBefore / MIB, rssInflated / MIB, thpBefore / MIB, rollup(p.pid(), "AnonHugePages") / MIB);
                c.execute("quit");
            }
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
    }
}
