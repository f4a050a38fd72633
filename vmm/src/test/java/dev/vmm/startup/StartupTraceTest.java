package dev.vmm.startup;

import dev.vmm.Main;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code --trace-startup} on a dry run: every phase once, in order, times rising, on stderr only. */
class StartupTraceTest {
    private static final Pattern LINE = Pattern.compile("startup: +([0-9.]+) ms +([+-][0-9.]+) +(.+)");

    @AfterEach
    void forget() {
        StartupTrace.reset();
    }

    @Test
    void dryRunReportsEachPhaseInOrder(@TempDir Path dir) throws Exception {
        Path disk = dir.resolve("d.img");
        try (var f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            status = Main.run("run", "--dry-run", "--trace-startup", "--disk", "path=" + disk);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        String stderr = e.toString(StandardCharsets.UTF_8);
        assertThat(status).as(stderr).isZero();
        assertThat(o.toString(StandardCharsets.UTF_8)).contains("machine: pc").doesNotContain("startup:");
        List<String> phases = new ArrayList<>();
        double last = 0, sum = 0;
        for (String line : stderr.lines().toList()) {
            Matcher m = LINE.matcher(line);
            assertThat(m.matches()).as("line %s", line).isTrue();
            double at = Double.parseDouble(m.group(1)), delta = Double.parseDouble(m.group(2));
            assertThat(at).as(line).isGreaterThanOrEqualTo(last);
            assertThat(delta).as(line).isGreaterThanOrEqualTo(0);
            sum += delta;
            assertThat(at).as("the deltas add up to the total: %s", line).isCloseTo(sum, org.assertj.core.data.Offset.offset(0.5));
            last = at;
            phases.add(m.group(3));
        }
        assertThat(phases).containsExactly("jvm started, main entered", "options parsed",
                "configuration read (kernel, initrd, device options)",
                "prepared (RAM mapped, kernel loaded, images and host devices opened)", "machine described (dry run)");
        assertThat(Files.exists(disk)).isTrue();
    }

    @Test
    void withoutTheOptionNothingIsPrinted() {
        StartupTrace.mark("x");
        StartupTrace.finish("y", new PrintStream(new ByteArrayOutputStream()));
        assertThat(StartupTrace.format()).isEmpty();
    }
}
