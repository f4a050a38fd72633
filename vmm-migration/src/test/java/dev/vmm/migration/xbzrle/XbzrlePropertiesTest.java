package dev.vmm.migration.xbzrle;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Round trips over random page pairs, checked against a byte-at-a-time oracle written straight
 * from the grammar. Plain seeded JUnit: every case draws its data from one {@code long} seed, and a
 * failure names that seed together with the call that replays it (the case methods are static and
 * package-private for that). {@code -Dxbzrle.seed=N} explores a different set of cases; by default
 * the run is deterministic. The whole class runs in about a second.
 */
class XbzrlePropertiesTest {

    /** How the new page differs from the old one. */
    enum Change { FEW, MANY, CLUSTERED, ALTERNATING }

    private static final long BASE_SEED = Long.getLong("xbzrle.seed", 0x5EED_B2L);
    /** Largest limit drawn at random: a bit over one 4 KiB page plus worst-case length bytes. */
    private static final int MAX_RANDOM_LIMIT = 4200;
    /** Bytes past the limit that encode must leave alone. */
    private static final int GUARD = 16;
    private static final byte GUARD_BYTE = (byte) 0xA5;

    // --- properties ----------------------------------------------------------------------------

    @Test
    void decodeOfEncodeGivesTheNewPage() {
        SplittableRandom seeds = seeds(1);
        for (int i = 0; i < 800; i++) {
            long seed = seeds.nextLong();
            // Round-robin over the shape so that every change kind meets both page kinds equally.
            Change change = Change.values()[i % Change.values().length];
            boolean fullPage = (i / Change.values().length) % 2 == 0;
            replayable("roundTrip(" + hex(seed) + ", Change." + change + ", " + fullPage + ")",
                    () -> roundTrip(seed, change, fullPage));
        }
    }

    @Test
    void withRoomForAnyDeltaEncodeNeverFails() {
        SplittableRandom seeds = seeds(2);
        for (int i = 0; i < 400; i++) {
            long seed = seeds.nextLong();
            Change change = Change.values()[i % Change.values().length];
            replayable("roomForAnyDelta(" + hex(seed) + ", Change." + change + ")",
                    () -> roomForAnyDelta(seed, change));
        }
    }

    @Test
    void randomDeltasAreAppliedOrRejectedButNeverCrash() {
        SplittableRandom seeds = seeds(3);
        int[] outcomes = new int[2]; // [accepted, rejected]
        for (int i = 0; i < 1300; i++) {
            long seed = seeds.nextLong();
            int length = i % 65; // every length 0..64, each about 20 times
            replayable("randomDelta(" + hex(seed) + ", " + length + ")",
                    () -> outcomes[randomDelta(seed, length) ? 0 : 1]++);
        }
        // The generator must reach both outcomes, or this checks little.
        assertThat(outcomes[0]).as("accepted random deltas").isGreaterThan(100);
        assertThat(outcomes[1]).as("rejected random deltas").isGreaterThan(100);
    }

    @Test
    void truncatingAnyValidDeltaIsDetected() throws Exception {
        Random random = new Random(7);
        for (int round = 0; round < 50; round++) {
            byte[] old = randomPage(random, 512);
            byte[] neu = mutate(random, old, Change.values()[round % 4]);
            byte[] delta = oracleEncode(old, neu);
            for (int cut = 1; cut < delta.length; cut++) {
                byte[] page = old.clone();
                int len = cut;
                // A prefix can only be valid if it ends right after a non-zero run; then it decodes
                // to a page that matches the new one up to that run.
                try {
                    Xbzrle.decode(delta, len, page);
                    assertThat(Arrays.mismatch(page, neu)).as("round %d, cut %d", round, cut).isGreaterThan(0);
                } catch (XbzrleFormatException expected) {
                    // truncated run, fine
                }
            }
            if (delta.length > 0) {
                byte[] page = old.clone();
                byte[] lastByteCut = Arrays.copyOf(delta, delta.length - 1);
                assertThatThrownBy(() -> Xbzrle.decode(lastByteCut, lastByteCut.length, page))
                        .as("round %d", round)
                        .isInstanceOf(XbzrleFormatException.class);
            }
        }
    }

    // --- single cases, replayable from their arguments -------------------------------------------

    /**
     * One page pair, encoded under a random limit and under the limits right around the oracle's
     * delta length: encode must give exactly the oracle's bytes when they fit, {@link Xbzrle#OVERFLOW}
     * exactly when they do not, never write past the limit, and decode must rebuild the new page.
     */
    static void roundTrip(long seed, Change change, boolean fullPage) throws Exception {
        Random random = new Random(seed);
        int pageSize = fullPage ? Xbzrle.DEFAULT_PAGE_SIZE : random.nextInt(300);
        byte[] old = randomPage(random, pageSize);
        byte[] neu = mutate(random, old, change);
        byte[] oracle = oracleEncode(old, neu);
        int[] limits = {random.nextInt(MAX_RANDOM_LIMIT + 1), random.nextInt(oracle.length + 1),
                0, oracle.length - 1, oracle.length, oracle.length + 1};
        for (int limit : limits) {
            if (limit < 0) continue;
            byte[] dst = new byte[limit + GUARD];
            Arrays.fill(dst, GUARD_BYTE);
            int n = Xbzrle.encode(old, neu, dst, limit);
            for (int i = limit; i < dst.length; i++) {
                assertThat(dst[i]).as("limit %d: byte %d past the limit was written", limit, i).isEqualTo(GUARD_BYTE);
            }
            if (n == Xbzrle.OVERFLOW) {
                // Failure means exactly "the delta would not fit".
                assertThat(oracle.length).as("limit %d: overflow reported for a %d-byte delta", limit, oracle.length)
                        .isGreaterThan(limit);
                continue;
            }
            assertThat(n).as("limit %d: delta length", limit).isBetween(0, limit);
            assertThat(Arrays.copyOf(dst, n)).as("limit %d: delta vs oracle", limit).isEqualTo(oracle);
            byte[] page = old.clone();
            Xbzrle.decode(dst, n, page);
            assertThat(page).as("limit %d: decoded page", limit).isEqualTo(neu);
        }
    }

    /** With room for the worst case (every other byte changed: 3 bytes per change) encode succeeds. */
    static void roomForAnyDelta(long seed, Change change) throws Exception {
        Random random = new Random(seed);
        byte[] old = randomPage(random, Xbzrle.DEFAULT_PAGE_SIZE);
        byte[] neu = mutate(random, old, change);
        byte[] dst = new byte[2 * old.length + 8];
        int n = Xbzrle.encode(old, neu, dst, dst.length);
        assertThat(n).as("delta length").isNotNegative();
        byte[] page = old.clone();
        Xbzrle.decode(dst, n, page);
        assertThat(page).as("decoded page").isEqualTo(neu);
    }

    /**
     * Decodes a random delta of at most {@code length} bytes onto a 64-byte page. The only failure
     * allowed is {@link XbzrleFormatException}, and {@link Xbzrle#validate} must give the same
     * verdict. Returns whether the delta was accepted.
     */
    static boolean randomDelta(long seed, int length) {
        Random random = new Random(seed);
        byte[] delta = random.nextBoolean() ? noiseDelta(random, length) : runsDelta(random, length);
        byte[] page = new byte[64];
        boolean valid;
        try {
            Xbzrle.validate(MemorySegment.ofArray(delta), 0, delta.length, page.length);
            valid = true;
        } catch (XbzrleFormatException e) {
            valid = false;
        }
        // Any other exception escapes and fails the case with its seed.
        boolean accepted;
        try {
            Xbzrle.decode(delta, delta.length, page);
            accepted = true;
        } catch (XbzrleFormatException e) {
            accepted = false;
        }
        assertThat(accepted).as("decode accepted vs validate accepted").isEqualTo(valid);
        return accepted;
    }

    /** Random bytes; small values are made common so that short well-formed deltas occur. */
    private static byte[] noiseDelta(Random random, int length) {
        byte[] delta = new byte[length];
        random.nextBytes(delta);
        for (int i = 0; i < length; i++) if (random.nextInt(3) == 0) delta[i] &= 0x07;
        return delta;
    }

    /**
     * Runs in the delta grammar with lengths that are mostly plausible and sometimes not (a zero
     * zero-run after the first pair, an empty data run, runs reaching past the page, lengths in
     * non-minimal ULEB128), cut to {@code length} bytes when longer.
     */
    private static byte[] runsDelta(Random random, int length) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int pairs = random.nextInt(6);
        for (int p = 0; p < pairs; p++) {
            int zeroRun = random.nextInt(p == 0 ? 12 : 14) - (p == 0 ? 0 : random.nextInt(2));
            int dataRun = random.nextInt(12) == 0 ? 0 : 1 + random.nextInt(10);
            writeLength(random, out, Math.max(0, zeroRun));
            writeLength(random, out, dataRun);
            for (int k = 0; k < dataRun; k++) out.write(random.nextInt(256));
        }
        byte[] delta = out.toByteArray();
        return delta.length > length ? Arrays.copyOf(delta, length) : delta;
    }

    /** ULEB128, now and then padded with a redundant 0x80 continuation byte. */
    private static void writeLength(Random random, ByteArrayOutputStream out, int value) {
        if (random.nextInt(16) == 0) {
            out.write(value & 0x7f | 0x80);
            writeUleb128(out, value >>> 7);
        } else {
            writeUleb128(out, value);
        }
    }

    // --- generators and oracle -------------------------------------------------------------------

    private static byte[] randomPage(Random random, int size) {
        byte[] page = new byte[size];
        switch (random.nextInt(3)) {
            case 0 -> random.nextBytes(page);
            case 1 -> { } // zero page
            default -> { for (int i = 0; i < size; i++) page[i] = (byte) (i * 31 >>> 3); } // structured
        }
        return page;
    }

    private static byte[] mutate(Random random, byte[] old, Change change) {
        byte[] neu = old.clone();
        int size = old.length;
        if (size == 0) return neu;
        switch (change) {
            case FEW -> {
                int count = random.nextInt(9); // 0 = unchanged page
                for (int k = 0; k < count; k++) neu[random.nextInt(size)] ^= (byte) (1 + random.nextInt(255));
            }
            case MANY -> {
                int percent = 1 + random.nextInt(100);
                for (int i = 0; i < size; i++) if (random.nextInt(100) < percent) neu[i] ^= (byte) (1 + random.nextInt(255));
            }
            case CLUSTERED -> {
                int clusters = 1 + random.nextInt(6);
                for (int c = 0; c < clusters; c++) {
                    int start = random.nextInt(size);
                    int end = Math.min(size, start + 1 + random.nextInt(Math.max(1, size / 4)));
                    for (int i = start; i < end; i++) neu[i] = (byte) random.nextInt(256); // some stay equal
                }
            }
            case ALTERNATING -> {
                int stride = 2 + random.nextInt(3);
                for (int i = random.nextInt(stride); i < size; i += stride) neu[i] ^= (byte) 0x5a;
            }
        }
        return neu;
    }

    /** The grammar, one byte at a time: maximal alternating runs, trailing zero run omitted. */
    static byte[] oracleEncode(byte[] old, byte[] neu) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        while (i < old.length) {
            int zeroStart = i;
            while (i < old.length && old[i] == neu[i]) i++;
            if (i == old.length) break;
            writeUleb128(out, i - zeroStart);
            int dataStart = i;
            while (i < old.length && old[i] != neu[i]) i++;
            writeUleb128(out, i - dataStart);
            out.write(neu, dataStart, i - dataStart);
        }
        return out.toByteArray();
    }

    private static void writeUleb128(ByteArrayOutputStream out, int value) {
        do {
            int b = value & 0x7f;
            value >>>= 7;
            out.write(value != 0 ? b | 0x80 : b);
        } while (value != 0);
    }

    // --- seeds ---------------------------------------------------------------------------------

    /** Independent, deterministic seed stream per property (changes with {@code -Dxbzrle.seed}). */
    private static SplittableRandom seeds(int property) {
        return new SplittableRandom(BASE_SEED * 31 + property);
    }

    @FunctionalInterface
    private interface Case { void run() throws Exception; }

    /** Runs one case; any failure, assertion or exception, is reported with the call that replays it. */
    private static void replayable(String call, Case c) {
        try {
            c.run();
        } catch (Throwable t) {
            throw new AssertionError("failed; replay with XbzrlePropertiesTest." + call + ": " + t, t);
        }
    }

    private static String hex(long seed) {
        return "0x" + Long.toHexString(seed) + "L";
    }
}
