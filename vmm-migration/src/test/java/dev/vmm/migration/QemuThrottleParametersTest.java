package dev.vmm.migration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The auto-converge parameters against QEMU 7.2 itself, run at test time ({@code -machine none},
 * QMP over stdio): the defaults {@code query-migrate-parameters} reports, and which values
 * {@code migrate-set-parameters} accepts — in range, out of range, and of the wrong JSON type —
 * and what reading them back gives. Our side is {@link MigrationParameters} fed the way the VMM's
 * QMP command feeds it (JSON numbers as longs, JSON booleans as booleans).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QemuThrottleParametersTest {
    private static final List<String> THROTTLE_PARAMETERS = List.of("cpu-throttle-initial", "cpu-throttle-increment",
            "cpu-throttle-tailslow", "max-cpu-throttle", "throttle-trigger-threshold");

    private Process qemu;
    private BufferedReader replies;
    private Writer requests;

    /** A fresh QEMU per test: each starts from QEMU's defaults. */
    @BeforeEach
    void startQemu() throws IOException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        assumeTrue(exe != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        qemu = new ProcessBuilder(exe, "-machine", "none", "-nodefaults", "-display", "none", "-qmp", "stdio")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        replies = new BufferedReader(new InputStreamReader(qemu.getInputStream(), StandardCharsets.UTF_8));
        requests = new OutputStreamWriter(qemu.getOutputStream(), StandardCharsets.UTF_8);
        assertThat(replies.readLine()).as("QMP greeting").contains("\"QMP\"");
        assertThat(execute("{\"execute\": \"qmp_capabilities\"}")).contains("\"return\"");
    }

    @AfterEach
    void stopQemu() throws Exception {
        if (qemu == null) return;
        qemu.destroy();
        qemu.waitFor(10, TimeUnit.SECONDS);
    }

    /** Sends one command and returns its reply line (events skipped). */
    private String execute(String json) throws IOException {
        requests.write(json + "\n");
        requests.flush();
        while (true) {
            String line = replies.readLine();
            if (line == null) throw new IOException("QEMU ended");
            if (line.contains("\"return\"") || line.contains("\"error\"")) return line;
        }
    }

    /** The value QEMU reports for {@code name} in query-migrate-parameters, as JSON text. */
    private String qemuValue(String name) throws IOException {
        String reply = execute("{\"execute\": \"query-migrate-parameters\"}");
        Matcher m = Pattern.compile("\"" + Pattern.quote(name) + "\": ([a-z0-9]+)").matcher(reply);
        assertThat(m.find()).as("%s in %s", name, reply).isTrue();
        return m.group(1);
    }

    private boolean qemuAccepts(String name, String jsonValue) throws IOException {
        return qemuAccepts(Map.of(name, jsonValue));
    }

    /** One migrate-set-parameters with all of {@code jsonValues} (name → JSON text). */
    private boolean qemuAccepts(Map<String, String> jsonValues) throws IOException {
        StringBuilder args = new StringBuilder();
        jsonValues.forEach((k, v) -> args.append(args.isEmpty() ? "" : ", ").append('"').append(k).append("\": ").append(v));
        return execute("{\"execute\": \"migrate-set-parameters\", \"arguments\": {" + args + "}}").contains("\"return\"");
    }

    private static boolean weAccept(MigrationParameters p, String name, String jsonValue) {
        return weAccept(p, Map.of(name, jsonValue));
    }

    /** As MigrationCommands does: one set(Map) with JSON booleans as Boolean, numbers as Long. */
    private static boolean weAccept(MigrationParameters p, Map<String, String> jsonValues) {
        Map<String, Object> values = new LinkedHashMap<>();
        jsonValues.forEach((k, v) -> values.put(k, v.equals("true") || v.equals("false") ? (Object) Boolean.parseBoolean(v) : (Object) Long.parseLong(v)));
        try {
            p.set(values);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private void assertSameThrottleParameters(MigrationParameters ours, String when) throws IOException {
        for (String name : THROTTLE_PARAMETERS) {
            assertThat(String.valueOf(ours.toMap().get(name))).as("%s %s", name, when).isEqualTo(qemuValue(name));
        }
    }

    @Test
    void defaultsAreQemus() throws IOException {
        assertSameThrottleParameters(new MigrationParameters(), "by default");
    }

    @Test
    void acceptsAndRefusesWhatQemuDoes() throws IOException {
        MigrationParameters ours = new MigrationParameters();
        List<String> values = List.of("-1", "0", "1", "50", "99", "100", "101", "true", "false");
        for (String name : THROTTLE_PARAMETERS) {
            for (String v : values) {
                boolean qemuOk = qemuAccepts(name, v);
                assertThat(weAccept(ours, name, v)).as("%s = %s (QEMU %s)", name, v, qemuOk ? "accepts" : "refuses")
                        .isEqualTo(qemuOk);
                // Whatever was accepted or refused, both now hold the same values.
                assertSameThrottleParameters(ours, "after " + name + " = " + v);
            }
        }
    }

    @Test
    void severalParametersAreCheckedTogetherAndSetAllOrNothing() throws IOException {
        MigrationParameters ours = new MigrationParameters();
        List<Map<String, String>> commands = List.of(
                ordered("max-cpu-throttle", "50"),
                ordered("cpu-throttle-initial", "60"),                              // above the max
                ordered("cpu-throttle-initial", "60", "max-cpu-throttle", "70"),    // together: fine
                ordered("max-cpu-throttle", "10", "cpu-throttle-initial", "5"),     // max first: fine as a whole
                ordered("cpu-throttle-initial", "30", "cpu-throttle-increment", "0"), // one bad value: none set
                ordered("cpu-throttle-tailslow", "true", "throttle-trigger-threshold", "101"),
                ordered("cpu-throttle-tailslow", "true", "throttle-trigger-threshold", "100"));
        for (Map<String, String> c : commands) {
            boolean qemuOk = qemuAccepts(c);
            assertThat(weAccept(ours, c)).as("%s (QEMU %s)", c, qemuOk ? "accepts" : "refuses").isEqualTo(qemuOk);
            assertSameThrottleParameters(ours, "after " + c);
        }
    }

    private static Map<String, String> ordered(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }
}
