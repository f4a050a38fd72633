package dev.vmm.control;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The QMP protocol itself — greeting, capabilities negotiation, query-version, query-commands and
 * the answers to mistakes — against QEMU 7.2 run at test time (README promises that had no test).
 * No machine is needed: these live in the server.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QmpProtocolTest {
    @TempDir
    Path dir;
    private QmpPair pair;

    @BeforeEach
    void start() throws IOException {
        pair = new QmpPair(dir, server -> { });
    }

    @AfterEach
    void stop() throws Exception {
        if (pair != null) pair.close();
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) out.add(it.next());
        return out;
    }

    @Test
    void greetingHasQemusShape() throws IOException {
        JsonNode q = pair.qemu.greeting(), o = pair.ours.greeting();
        assertThat(fieldNames(o.get("QMP"))).containsExactlyInAnyOrderElementsOf(fieldNames(q.get("QMP")));
        assertThat(fieldNames(o.at("/QMP/version"))).containsExactlyInAnyOrderElementsOf(fieldNames(q.at("/QMP/version")));
        assertThat(fieldNames(o.at("/QMP/version/qemu"))).containsExactlyInAnyOrderElementsOf(fieldNames(q.at("/QMP/version/qemu")));
        assertThat(o.at("/QMP/capabilities").isArray()).isTrue();
    }

    @Test
    void commandsBeforeNegotiationAreRefusedAsByQemu() throws IOException {
        pair.qemu.greeting();
        pair.ours.greeting();
        JsonNode q = pair.qemu.execute("query-version", null), o = pair.ours.execute("query-version", null);
        assertThat(o.at("/error/class")).as("ours %s, QEMU %s", o, q).isEqualTo(q.at("/error/class"));
    }

    @Test
    void queryVersionAndQueryCommandsHaveQemusShape() throws IOException {
        QmpPair.Client qemu = pair.qemu.negotiated(), ours = pair.ours.negotiated();
        JsonNode q = qemu.execute("query-version", null).get("return"), o = ours.execute("query-version", null).get("return");
        assertThat(fieldNames(o)).containsExactlyInAnyOrderElementsOf(fieldNames(q));
        assertThat(fieldNames(o.get("qemu"))).containsExactlyInAnyOrderElementsOf(fieldNames(q.get("qemu")));
        JsonNode qc = qemu.execute("query-commands", null).get("return"), oc = ours.execute("query-commands", null).get("return");
        assertThat(oc.isArray()).isTrue();
        assertThat(fieldNames(oc.get(0))).containsExactlyInAnyOrderElementsOf(fieldNames(qc.get(0)));
        List<String> names = new ArrayList<>();
        oc.forEach(c -> names.add(c.get("name").asText()));
        assertThat(names).contains("qmp_capabilities", "query-version", "query-commands");
    }

    @Test
    void mistakesGetQemusErrorClasses() throws IOException {
        QmpPair.Client qemu = pair.qemu.negotiated(), ours = pair.ours.negotiated();
        List<String> lines = List.of(
                "{\"execute\": \"no-such-command\"}",
                "{\"execute\": \"query-version\", \"arguments\": {\"bogus\": 1}}",
                "{\"execute\": \"query-version\", \"arguments\": [1]}",
                "{\"execute\": 42}",
                "{\"arguments\": {}}",
                "{\"execute\": \"qmp_capabilities\"}",
                "[1, 2]");
        for (String line : lines) {
            JsonNode q = qemu.send(line), o = ours.send(line);
            assertThat(o.has("error")).as("%s: QEMU %s, ours %s", line, q, o).isEqualTo(q.has("error"));
            if (q.has("error")) assertThat(o.at("/error/class")).as("%s: QEMU %s, ours %s", line, q, o).isEqualTo(q.at("/error/class"));
        }
        // The connection survives all of it.
        assertThat(ours.execute("query-version", null).has("return")).isTrue();
    }
}
