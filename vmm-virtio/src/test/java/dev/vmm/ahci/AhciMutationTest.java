package dev.vmm.ahci;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded random mutation of the fuzz seed corpus through {@link AhciFuzzTest#exercise} (same
 * invariants: no exception, the command completes or fails with TFES, the port recovers). It runs
 * everywhere with fixed seeds, so a failure reproduces; it complements Jazzer, whose coverage
 * guidance does not take effect in this build (see docs/ahci.md).
 */
@Timeout(300)
class AhciMutationTest {
    static final int MUTANTS_PER_SEED = 400;

    @Test
    void mutatedSeedsKeepThePortUsable() throws IOException {
        Path dir = Path.of("src/test/resources/dev/vmm/ahci/AhciFuzzTestInputs/commands");
        List<byte[]> seeds = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) seeds.add(Files.readAllBytes(f));
        }
        assertTrue(seeds.size() >= 20, "seed corpus present: " + seeds.size());
        Random rnd = new Random(0xA4C1);
        int runs = 0;
        for (byte[] seed : seeds) {
            for (int m = 0; m < MUTANTS_PER_SEED; m++) {
                byte[] b = mutate(seed, rnd);
                try {
                    AhciFuzzTest.exercise(b);
                } catch (Throwable t) {
                    throw new AssertionError("mutant " + HexFormat.of().formatHex(b) + " failed: " + t, t);
                }
                runs++;
            }
        }
        assertTrue(runs == seeds.size() * MUTANTS_PER_SEED);
    }

    /** A few byte flips, random bytes, interesting values (0, FF, 80, 7F) or a truncation. */
    static byte[] mutate(byte[] seed, Random rnd) {
        byte[] b = seed.clone();
        int edits = 1 + rnd.nextInt(6);
        for (int i = 0; i < edits && b.length > 0; i++) {
            int at = rnd.nextInt(b.length);
            switch (rnd.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[at] = (byte) rnd.nextInt(256);
                case 2 -> b[at] = new byte[] {0, (byte) 0xFF, (byte) 0x80, 0x7F}[rnd.nextInt(4)];
                case 3 -> { // a 32-bit field of all ones or a large value
                    for (int k = 0; k < 4 && at + k < b.length; k++) b[at + k] = (byte) (rnd.nextBoolean() ? 0xFF : rnd.nextInt(256));
                }
                default -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 1));
            }
        }
        return b;
    }
}
