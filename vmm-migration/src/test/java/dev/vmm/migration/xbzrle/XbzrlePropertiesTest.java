package dev.vmm.migration.xbzrle;

import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/**
 * Round trips over random page pairs, checked against a byte-at-a-time oracle written straight
 * from the grammar. Try counts are small: the whole class runs in a few seconds.
 */
class XbzrlePropertiesTest {

    /** How the new page differs from the old one. */
    enum Change { FEW, MANY, CLUSTERED, ALTERNATING }

    @Property(tries = 400)
    void decodeOfEncodeGivesTheNewPage(@ForAll long seed, @ForAll Change change,
                                       @ForAll @IntRange(min = 0, max = 4200) int limit,
                                       @ForAll boolean fullPage) throws Exception {
        Random random = new Random(seed);
        int pageSize = fullPage ? Xbzrle.DEFAULT_PAGE_SIZE : random.nextInt(300);
        byte[] old = randomPage(random, pageSize);
        byte[] neu = mutate(random, old, change);

        byte[] dst = new byte[limit];
        int n = Xbzrle.encode(old, neu, dst, limit);
        byte[] oracle = oracleEncode(old, neu);
        if (n == Xbzrle.OVERFLOW) {
            // Failure means exactly "the delta would not fit".
            assertThat(oracle.length).isGreaterThan(limit);
            return;
        }
        assertThat(n).isLessThanOrEqualTo(limit);
        assertThat(Arrays.copyOf(dst, n)).isEqualTo(oracle);
        byte[] page = old.clone();
        Xbzrle.decode(dst, n, page);
        assertThat(page).isEqualTo(neu);
    }

    @Property(tries = 200)
    void withRoomForAnyDeltaEncodeNeverFails(@ForAll long seed, @ForAll Change change) throws Exception {
        Random random = new Random(seed);
        byte[] old = randomPage(random, Xbzrle.DEFAULT_PAGE_SIZE);
        byte[] neu = mutate(random, old, change);
        // Worst case: every other byte changed, 3 bytes per changed byte.
        byte[] dst = new byte[2 * old.length + 8];
        int n = Xbzrle.encode(old, neu, dst, dst.length);
        assertThat(n).isNotNegative();
        byte[] page = old.clone();
        Xbzrle.decode(dst, n, page);
        assertThat(page).isEqualTo(neu);
    }

    @Property(tries = 300)
    void randomDeltasAreAppliedOrRejectedButNeverCrash(@ForAll long seed, @ForAll @IntRange(min = 0, max = 64) int length) {
        Random random = new Random(seed);
        byte[] delta = new byte[length];
        random.nextBytes(delta);
        // Small lengths make well-formed deltas likely enough to exercise both outcomes.
        for (int i = 0; i < length; i++) if (random.nextInt(3) == 0) delta[i] &= 0x07;
        byte[] page = new byte[64];
        try {
            Xbzrle.decode(delta, length, page);
        } catch (XbzrleFormatException expected) {
            return;
        } catch (RuntimeException e) {
            fail("malformed delta must give XbzrleFormatException, got " + e);
        }
    }

    @Example
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
                    assertThat(Arrays.mismatch(page, neu)).isGreaterThan(0);
                } catch (XbzrleFormatException expected) {
                    // truncated run, fine
                }
            }
            if (delta.length > 0) {
                byte[] page = old.clone();
                byte[] lastByteCut = Arrays.copyOf(delta, delta.length - 1);
                assertThatThrownBy(() -> Xbzrle.decode(lastByteCut, lastByteCut.length, page))
                        .isInstanceOf(XbzrleFormatException.class);
            }
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
}
