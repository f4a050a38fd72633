package dev.vmm.bench.xbzrle;

import dev.vmm.bench.xbzrle.XbzrleWorkload.PagePair;
import dev.vmm.migration.xbzrle.Xbzrle;
import dev.vmm.migration.xbzrle.XbzrleFormatException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Java codec against the independent C implementation of the format (xbzrle_ref.c): identical
 * delta bytes and overflow decisions on random page pairs, each decoder accepting the other's
 * deltas, and the same accept/reject verdict on malformed deltas.
 */
class XbzrleInteropTest {
    private static XbzrleReference reference;

    @BeforeAll
    static void buildReference() throws Exception {
        XbzrleReference.Result built = XbzrleReference.build(Path.of("target", "xbzrle-ref"));
        assumeTrue(built.reference().isPresent(), () -> "skipped: " + built.unavailableReason());
        reference = built.reference().get();
    }

    private static List<PagePair> randomPairs(long seed, int count) {
        Random random = new Random(seed);
        List<PagePair> pairs = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            int size = switch (k % 4) {
                case 0, 1 -> 4096;
                case 2 -> random.nextInt(200);     // odd sizes exercise the byte tails
                default -> 16384 + random.nextInt(8192); // lengths needing 3-byte ULEB128
            };
            byte[] old = new byte[size];
            if (random.nextBoolean()) random.nextBytes(old);
            byte[] neu = old.clone();
            if (size > 0) {
                switch (random.nextInt(4)) {
                    case 0 -> { for (int i = random.nextInt(10); i > 0; i--) neu[random.nextInt(size)] ^= 0x10; }
                    case 1 -> { for (int i = 0; i < size; i++) if (random.nextInt(100) < 30) neu[i] = (byte) random.nextInt(256); }
                    case 2 -> {
                        int start = random.nextInt(size);
                        for (int i = start; i < Math.min(size, start + random.nextInt(size)); i++) neu[i] ^= (byte) 0xa5;
                    }
                    default -> { for (int i = random.nextInt(3); i < size; i += 3) neu[i] ^= 1; }
                }
            }
            // Limits around the delta size so both sides of the overflow edge are hit.
            int limit = switch (random.nextInt(3)) {
                case 0 -> Math.max(0, size - 1);
                case 1 -> 2 * size + 8;
                default -> random.nextInt(size + 1);
            };
            pairs.add(new PagePair(old, neu, limit));
        }
        return pairs;
    }

    private static byte[] javaEncode(PagePair p) {
        byte[] dst = new byte[p.limit()];
        int n = Xbzrle.encode(p.oldPage(), p.newPage(), dst, p.limit());
        return n < 0 ? null : Arrays.copyOf(dst, n);
    }

    @Test
    void encodersProduceIdenticalBytes() throws Exception {
        List<PagePair> pairs = randomPairs(1, 600);
        pairs.addAll(XbzrleWorkload.generate(XbzrleWorkload.Scenario.FEW, 20, 4096, 3));
        pairs.addAll(XbzrleWorkload.generate(XbzrleWorkload.Scenario.HALF_LINES, 20, 4096, 4));
        List<byte[]> c = reference.encode(pairs);
        int deltas = 0;
        int overflows = 0;
        for (int k = 0; k < pairs.size(); k++) {
            byte[] java = javaEncode(pairs.get(k));
            assertThat(java).as("pair %d", k).isEqualTo(c.get(k));
            if (java == null) overflows++; else deltas++;
        }
        assertThat(deltas).isGreaterThan(100);
        assertThat(overflows).isGreaterThan(50);
    }

    @Test
    void qemuDocumentationExampleInC() throws Exception {
        byte[] old = new byte[4096];
        byte[] neu = new byte[4096];
        HexFormat hex = HexFormat.of();
        System.arraycopy(hex.parseHex("05060708090a0b0c0d0e0f101112136800006b006d"), 0, old, 1001, 21);
        System.arraycopy(hex.parseHex("0102030405060708090a0b0c0d0e0f680000670069"), 0, neu, 1001, 21);
        assertThat(reference.encode(List.of(new PagePair(old, neu, 4095))).getFirst())
                .isEqualTo(hex.parseHex("e9070f0102030405060708090a0b0c0d0e0f0301670101 69".replace(" ", "")));
    }

    @Test
    void cDecodesJavaDeltas() throws Exception {
        List<PagePair> pairs = randomPairs(2, 300);
        List<byte[]> deltas = new ArrayList<>();
        List<byte[]> olds = new ArrayList<>();
        List<byte[]> news = new ArrayList<>();
        for (PagePair p : pairs) {
            byte[] delta = javaEncode(p);
            if (delta == null) continue;
            deltas.add(delta);
            olds.add(p.oldPage());
            news.add(p.newPage());
        }
        List<byte[]> decoded = reference.decode(deltas, olds);
        for (int k = 0; k < deltas.size(); k++) assertThat(decoded.get(k)).as("delta %d", k).isEqualTo(news.get(k));
    }

    @Test
    void decodersAgreeOnMalformedAndRandomDeltas() throws Exception {
        HexFormat hex = HexFormat.of();
        List<byte[]> deltas = new ArrayList<>(List.of(
                hex.parseHex("80"), hex.parseHex("0080"), hex.parseHex("ffffffff0f"), hex.parseHex("ffffffffff01"),
                hex.parseHex("1101aa"), hex.parseHex("1001aa"), hex.parseHex("0005aabb"), hex.parseHex("0000"),
                hex.parseHex("0001aa0001bb"), hex.parseHex("05"), hex.parseHex("0001aa02"),
                hex.parseHex("820081800" + "0aa"), hex.parseHex("0001aa0e01bb"), new byte[0]));
        Random random = new Random(5);
        for (int k = 0; k < 400; k++) {
            byte[] d = new byte[random.nextInt(24)];
            random.nextBytes(d);
            for (int i = 0; i < d.length; i++) if (random.nextInt(3) > 0) d[i] &= 0x07; // often well-formed
            deltas.add(d);
        }
        List<byte[]> pages = new ArrayList<>();
        for (int k = 0; k < deltas.size(); k++) {
            byte[] page = new byte[16];
            random.nextBytes(page);
            pages.add(page);
        }
        List<byte[]> c = reference.decode(deltas, pages);
        int accepted = 0;
        for (int k = 0; k < deltas.size(); k++) {
            byte[] page = pages.get(k).clone();
            byte[] java;
            try {
                Xbzrle.decode(deltas.get(k), deltas.get(k).length, page);
                java = page;
            } catch (XbzrleFormatException e) {
                java = null;
            }
            assertThat(java).as("delta %s", hex.formatHex(deltas.get(k))).isEqualTo(c.get(k));
            if (java != null) accepted++;
        }
        assertThat(accepted).isGreaterThan(20);
        assertThat(deltas.size() - accepted).isGreaterThan(20);
    }
}
