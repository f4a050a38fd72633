package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.it.ConsoleWatcher.Milestone;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class ConsoleWatcherTest {

    private static final Milestone VERSION = Milestone.of("version", "Linux version \\d");
    private static final Milestone MOUNTED = Milestone.of("mounted", "VFS: Mounted root");
    private static final Milestone PANIC = Milestone.of("panic", "Kernel panic");

    private static void feed(ConsoleWatcher w, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        w.feed(b, 0, b.length);
    }

    @Test
    void splitsCrLfLinesAcrossFeedsAndEchoesThem() {
        List<String> echoed = new ArrayList<>();
        ConsoleWatcher w = new ConsoleWatcher(System.nanoTime(), echoed::add);
        feed(w, "[    0.000000] Linux vers");
        feed(w, "ion 6.1.0\r\n[    0.1] second\r");
        assertThat(echoed).containsExactly("[    0.000000] Linux version 6.1.0");
        feed(w, "\nthird-without-newline");
        assertThat(echoed).containsExactly("[    0.000000] Linux version 6.1.0", "[    0.1] second");
        w.endOfInput();
        assertThat(w.transcript()).extracting(ConsoleWatcher.Line::text)
                .containsExactly("[    0.000000] Linux version 6.1.0", "[    0.1] second", "third-without-newline");
    }

    @Test
    void findsMilestonesSeenBeforeAndAfterTheWaitStarts() throws Exception {
        ConsoleWatcher w = new ConsoleWatcher();
        feed(w, "Linux version 6.1\n");
        Thread later = new Thread(() -> {
            sleep(50);
            feed(w, "VFS: Mounted root (ext2 filesystem) on device 254:0.\n");
            sleep(50);
            feed(w, "Kernel panic - not syncing: No working init found.\n");
        });
        later.start();
        ConsoleWatcher.Result r = w.await(List.of(VERSION, MOUNTED, PANIC), Duration.ofSeconds(10));
        later.join();
        assertThat(r.allSeen()).as(r.toString()).isTrue();
        assertThat(r.missing()).isEmpty();
        assertThat(r.inOrder()).isTrue();
        assertThat(r.at("mounted").orElseThrow()).isGreaterThan(r.at("version").orElseThrow());
        assertThat(r.hit("panic").orElseThrow().line().text()).contains("No working init");
        assertThat(r.waited()).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void timesOutWithTheMissingMilestonesAndTheTranscriptTail() throws Exception {
        ConsoleWatcher w = new ConsoleWatcher();
        feed(w, "Linux version 6.1\nsomething else\n");
        ConsoleWatcher.Result r = w.await(List.of(VERSION, PANIC), Duration.ofMillis(100));
        assertThat(r.allSeen()).isFalse();
        assertThat(r.inputEnded()).isFalse();
        assertThat(r.missing()).containsExactly(PANIC);
        assertThat(r.waited()).isGreaterThanOrEqualTo(Duration.ofMillis(100));
        assertThat(r.describe(1)).contains("timed out").contains("---    panic").contains("something else")
                .doesNotContain("] Linux version 6.1\n");
    }

    @Test
    void endOfStreamEndsTheWaitAtOnce() throws Exception {
        var in = new ByteArrayInputStream("Linux version 6.1\r\nbye".getBytes(StandardCharsets.US_ASCII));
        ConsoleWatcher w = ConsoleWatcher.watch(in, System.nanoTime(), null);
        ConsoleWatcher.Result r = w.await(List.of(VERSION, PANIC), Duration.ofMinutes(5));
        assertThat(r.inputEnded()).isTrue();
        assertThat(r.missing()).containsExactly(PANIC);
        assertThat(r.waited()).isLessThan(Duration.ofMinutes(1));
        assertThat(r.describe(5)).contains("ended before").contains("bye");
    }

    @Test
    void reportsMilestonesThatCameOutOfOrder() throws Exception {
        ConsoleWatcher w = new ConsoleWatcher();
        try (OutputStream out = w.asOutputStream()) {
            out.write("Kernel panic - not syncing\n".getBytes(StandardCharsets.US_ASCII));
            sleep(5);
            out.write("Linux version 6.1\n".getBytes(StandardCharsets.US_ASCII));
        }
        ConsoleWatcher.Result r = w.await(List.of(VERSION, PANIC), Duration.ofSeconds(1));
        assertThat(r.allSeen()).isTrue();
        assertThat(r.inOrder()).isFalse();
    }

    @Test
    void capsOverlongLines() {
        ConsoleWatcher w = new ConsoleWatcher();
        feed(w, "x".repeat(ConsoleWatcher.MAX_LINE + 10) + "\n");
        assertThat(w.transcript()).extracting(l -> l.text().length())
                .containsExactly(ConsoleWatcher.MAX_LINE, 10);
    }

    @Test
    void readsFromAStreamWhileItIsBeingWritten() throws Exception {
        PipedOutputStream guest = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(guest);
        try (ConsoleWatcher w = ConsoleWatcher.watch(in, System.nanoTime(), null)) {
            guest.write("Linux version 6.1\n".getBytes(StandardCharsets.US_ASCII));
            guest.flush();
            assertThat(w.await(Duration.ofSeconds(10), VERSION).allSeen()).isTrue();
            guest.close();
            assertThat(w.awaitEnd(Duration.ofSeconds(10))).isTrue();
        }
    }

    @Test
    void pvmCommandLineCarriesTheCpuFeatureWorkaroundsOnlyWhenAsked() {
        assertThat(SmokeKernel.cmdline(false, SmokeKernel.ROOT_VDA))
                .isEqualTo("console=ttyS0 acpi=off panic=-1 root=/dev/vda rw rootfstype=ext2");
        assertThat(SmokeKernel.cmdline(true, "", null))
                .startsWith("console=ttyS0 acpi=off panic=-1 clearcpuid=smap,smep,cx16,xsave,popcnt,")
                .endsWith(",pku");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
