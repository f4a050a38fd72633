package dev.vmm.block.fuzz;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import dev.vmm.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Seeded random mutation of valid images (complements the Jazzer targets, runs anywhere, fixed
 * seeds so failures reproduce): flipped bytes in the metadata-dense start of the file, overwritten
 * 64-bit fields, truncations. Each mutant must read cleanly or fail with a BlockException.
 */
class ImageMutationTest {
    @TempDir Path tmp;

    private byte[] validImage(String kind) throws IOException {
        Path p = tmp.resolve("seed-" + kind);
        switch (kind) {
            case "qcow2-v3", "qcow2-v2" -> {
                Qcow2Creator.create(p, 1 << 20, new Qcow2Creator.Options(kind.endsWith("v3") ? 3 : 2, 512, false, 16, null, null));
                try (BlockDevice d = Images.open(p, Images.Options.readWriteDefaults())) {
                    byte[] data = new byte[3000];
                    new Random(1).nextBytes(data);
                    d.write(1000, MemorySegment.ofArray(data));
                    d.write(300_000, MemorySegment.ofArray(data));
                    d.writeZeroes(4096, 4096, true);
                }
            }
            default -> {
                QemuTools.assumeAvailable();
                String fmt = kind.substring(0, kind.indexOf('-')), sub = kind.substring(kind.indexOf('-') + 1);
                QemuTools.run("qemu-img", "create", "-q", "-f", fmt, "-o", "subformat=" + sub + (fmt.equals("vhdx") ? ",block_size=1M" : ""), p.toString(), "2M");
                QemuTools.io(p, fmt, "write -P 0x61 0 5k", "write -P 0x62 1m 4k");
            }
        }
        return Files.readAllBytes(p);
    }

    @ParameterizedTest
    @ValueSource(strings = {"qcow2-v3", "qcow2-v2", "vpc-dynamic", "vhdx-dynamic"})
    void mutantsFailCleanly(String kind) throws IOException {
        byte[] valid = validImage(kind);
        ImageFormat format = ImageFormat.byName(kind.substring(0, kind.indexOf('-')));
        Random r = new Random(kind.hashCode());
        int iterations = kind.startsWith("vhdx") ? 40 : 150;
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int i = 0; i < iterations; i++) {
                byte[] m = mutate(valid, r);
                try {
                    ImageParserFuzzTest.exercise(m, format);
                    ImageParserFuzzTest.exercise(m, null);
                } catch (Throwable t) {
                    Path keep = tmp.resolve("crash-" + kind + "-" + i);
                    Files.write(keep, m);
                    throw new AssertionError(kind + " mutant " + i + " (kept as " + keep + "): " + t, t);
                }
            }
        });
    }

    private static byte[] mutate(byte[] valid, Random r) {
        byte[] m = valid.clone();
        int region = Math.min(m.length, r.nextBoolean() ? 4096 : 1 << 20);
        switch (r.nextInt(4)) {
            case 0 -> { for (int k = 1 + r.nextInt(8); k > 0; k--) m[r.nextInt(region)] = (byte) r.nextInt(256); }
            case 1 -> { // a whole 64-bit field to an extreme value
                int at = r.nextInt(Math.max(1, region - 8)) & ~3;
                long v = switch (r.nextInt(4)) { case 0 -> -1L; case 1 -> Long.MAX_VALUE; case 2 -> 1L << r.nextInt(63); default -> r.nextLong(); };
                for (int b = 0; b < 8; b++) m[at + b] = (byte) (v >>> (56 - 8 * b));
            }
            case 2 -> { return Arrays.copyOf(m, r.nextInt(m.length)); }
            default -> { int at = r.nextInt(region); m[at] ^= (byte) (1 << r.nextInt(8)); }
        }
        return m;
    }
}
