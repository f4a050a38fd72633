package dev.vmm.dump;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.charset.StandardCharsets;

/**
 * Jazzer target for dump-guest-memory's arguments, which any QMP client sends: every object must be
 * accepted or refused with an IllegalArgumentException (a one-line QMP error); anything else is a
 * finding. Without JAZZER_FUZZ it replays the seeds under src/test/resources (CI);
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm -am test -Dtest=DumpRequestFuzzTest} fuzzes it.
 */
class DumpRequestFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @FuzzTest(maxDuration = "60s")
    void arguments(byte[] input) {
        JsonNode args;
        try {
            args = JSON.readTree(new String(input, StandardCharsets.UTF_8));
        } catch (JsonProcessingException notJson) {
            return; // the QMP server refuses it before any command sees it
        }
        if (args == null || !args.isObject()) return; // likewise: 'arguments' must be an object
        try {
            DumpRequest r = DumpRequest.parse(args);
            if (r.file() == null) throw new AssertionError("accepted without a file");
        } catch (IllegalArgumentException refused) {
            // a QMP error
        }
    }
}
