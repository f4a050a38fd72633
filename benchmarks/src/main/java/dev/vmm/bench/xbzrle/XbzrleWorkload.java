package dev.vmm.bench.xbzrle;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Deterministic old/new page pairs for the XBZRLE benchmarks, so the Java (JMH) and C measurements
 * run on identical inputs.
 */
public final class XbzrleWorkload {
    public static final int PAGE_SIZE = 4096;
    public static final int PAGES = 256;
    private static final int LINE = 64;

    /** How dirty pages differ from their cached copy. */
    public enum Scenario {
        /** 8 scattered bytes changed: the case XBZRLE is for. */
        FEW,
        /** Half of the 64-byte cache lines rewritten: 50% changed in long runs; the delta fits. */
        HALF_LINES,
        /** Each byte changed with probability 1/2: 50% changed in short runs; overflows. */
        HALF_BYTES,
        /** Every byte changed: one run; overflows. */
        ALL
    }

    /** One benchmark input; {@code limit} is the encode limit migration uses (page size - 1). */
    public record PagePair(byte[] oldPage, byte[] newPage, int limit) {}

    private XbzrleWorkload() {}

    public static List<PagePair> generate(Scenario scenario) {
        return generate(scenario, PAGES, PAGE_SIZE, 0x5eed_0000L + scenario.ordinal());
    }

    public static List<PagePair> generate(Scenario scenario, int pages, int pageSize, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<PagePair> pairs = new ArrayList<>(pages);
        for (int p = 0; p < pages; p++) {
            byte[] old = new byte[pageSize];
            random.nextBytes(old);
            byte[] neu = old.clone();
            switch (scenario) {
                case FEW -> {
                    for (int k = 0; k < 8; k++) neu[random.nextInt(pageSize)] ^= (byte) (1 + random.nextInt(255));
                }
                case HALF_LINES -> {
                    for (int line = 0; line < pageSize; line += LINE) {
                        if (random.nextBoolean()) {
                            for (int i = line; i < Math.min(pageSize, line + LINE); i++) neu[i] ^= (byte) (1 + random.nextInt(255));
                        }
                    }
                }
                case HALF_BYTES -> {
                    for (int i = 0; i < pageSize; i++) if (random.nextBoolean()) neu[i] ^= (byte) (1 + random.nextInt(255));
                }
                case ALL -> {
                    for (int i = 0; i < pageSize; i++) neu[i] ^= (byte) (1 + random.nextInt(255));
                }
            }
            pairs.add(new PagePair(old, neu, pageSize - 1));
        }
        return pairs;
    }
}
