package dev.vmm.cpu;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * Jazzer target for the "cpu" section, which a migration peer or a snapshot file supplies: any
 * bytes must be accepted or refused with an IOException (StateFormatException, EOF); any other
 * exception, a hang or an OutOfMemoryError is a finding. Without JAZZER_FUZZ it replays the seed
 * corpus under src/test/resources (CI); {@code JAZZER_FUZZ=1 ./mvnw -pl vmm -am test -Dtest=CpuStateFuzzTest}
 * fuzzes it.
 */
class CpuStateFuzzTest {
    private static final Object HASWELL = new Object(), EPYC = new Object();

    static {
        CpuState.remember(HASWELL, "Haswell", CpuResolver.definition(CpuSpec.parse("Haswell")));
        CpuState.remember(EPYC, "EPYC,hv-relaxed", CpuResolver.definition(CpuSpec.parse("EPYC,hv-relaxed")));
    }

    @FuzzTest(maxDuration = "60s")
    void section(byte[] input) {
        for (Object m : new Object[]{HASWELL, EPYC}) {
            try {
                CpuState.check(new DataInputStream(new ByteArrayInputStream(input)), m);
            } catch (IOException refused) {
                // the right answer to a bad or incompatible section
            }
        }
    }
}
