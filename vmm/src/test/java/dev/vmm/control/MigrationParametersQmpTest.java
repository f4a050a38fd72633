package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The migration parameter commands over QMP, side by side with QEMU 7.2 run at test time
 * ({@code -machine none}, QMP on stdio): the same {@code migrate-set-parameters} lines go to both,
 * and each must be accepted or refused alike, leaving the same values in
 * {@code query-migrate-parameters}; {@code query-migrate} before any migration is the same too.
 * No machine is needed: these commands only touch the parameters (MigrationCommands gets none).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MigrationParametersQmpTest {
    /** The parameters both have (ours also has x-dirty-log-verify; QEMU many more). */
    private static final List<String> SHARED = List.of("max-bandwidth", "downtime-limit", "xbzrle-cache-size",
            "cpu-throttle-initial", "cpu-throttle-increment", "cpu-throttle-tailslow", "max-cpu-throttle",
            "throttle-trigger-threshold");

    @TempDir
    Path dir;
    private QmpPair pair;
    private QmpPair.Client ours;
    private QmpPair.Client qemu;

    @BeforeEach
    void start() throws IOException {
        pair = new QmpPair(dir, server -> MigrationCommands.install(server, null));
        qemu = pair.qemu.negotiated();
        ours = pair.ours.negotiated();
    }

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    private void assertSameParameters(String after) throws IOException {
        JsonNode q = qemu.execute("query-migrate-parameters", null).get("return");
        JsonNode o = ours.execute("query-migrate-parameters", null).get("return");
        for (String name : SHARED) assertThat(o.get(name)).as("%s after %s", name, after).isEqualTo(q.get(name));
    }

    @Test
    void setParametersIsAcceptedOrRefusedAsByQemu() throws IOException {
        assertSameParameters("start");
        List<String> commands = List.of(
                "{\"cpu-throttle-tailslow\": true}",
                "{\"cpu-throttle-tailslow\": 1}",
                "{\"cpu-throttle-tailslow\": \"false\"}",
                "{\"cpu-throttle-tailslow\": false, \"cpu-throttle-increment\": 5}",
                "{\"cpu-throttle-initial\": \"30\"}",
                "{\"cpu-throttle-initial\": 30.5}",
                "{\"cpu-throttle-initial\": 30}",
                "{\"max-cpu-throttle\": 25}",
                "{\"max-cpu-throttle\": 40, \"cpu-throttle-initial\": 35}",
                "{\"cpu-throttle-increment\": null}",
                "{\"throttle-trigger-threshold\": 0}",
                "{\"throttle-trigger-threshold\": 100, \"cpu-throttle-tailslow\": true}",
                "{\"downtime-limit\": 2000001}",
                "{\"downtime-limit\": 2000000, \"max-bandwidth\": 1048576}",
                "{\"no-such-parameter\": 1}");
        for (String args : commands) {
            JsonNode q = qemu.execute("migrate-set-parameters", args);
            JsonNode o = ours.execute("migrate-set-parameters", args);
            assertThat(o.has("return")).as("%s: QEMU answered %s, we %s", args, q, o).isEqualTo(q.has("return"));
            assertSameParameters(args);
        }
    }

    @Test
    void queryMigrateIsEmptyBeforeAnyMigration() throws IOException {
        assertThat(ours.execute("query-migrate", null)).isEqualTo(qemu.execute("query-migrate", null));
    }
}
