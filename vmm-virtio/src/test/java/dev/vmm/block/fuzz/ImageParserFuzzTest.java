package dev.vmm.block.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.block.qcow2.Qcow2Image;
import dev.vmm.virtio.testing.FuzzRig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Jazzer targets, one per image parser: any input must open and read cleanly or fail with a
 * {@link BlockException}; any other exception, a hang or an OutOfMemoryError is a finding.
 * Without JAZZER_FUZZ these replay the seed corpus under src/test/resources (regression mode, in CI);
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-virtio -am test -Dtest=ImageParserFuzzTest} fuzzes each for maxDuration.
 */
class ImageParserFuzzTest {

    @FuzzTest(maxDuration = "60s")
    void qcow2(byte[] input) { exercise(input, ImageFormat.QCOW2); }

    /** The input is a {@link SparseImageInput}: a VHDX keeps its structures 64 KiB to 3 MiB apart. */
    @FuzzTest(maxDuration = "60s")
    void vhdx(byte[] input) { exerciseSparse(input, ImageFormat.VHDX); }

    /** Raw bytes: a dynamic VPC is compact (footer copy, header, BAT); a fixed one is in {@link #vpcSparse}. */
    @FuzzTest(maxDuration = "60s")
    void vpc(byte[] input) { exercise(input, ImageFormat.VPC); }

    /** The input is a {@link SparseImageInput}: a fixed VPC's only metadata, the footer, follows the whole disk. */
    @FuzzTest(maxDuration = "60s")
    void vpcSparse(byte[] input) { exerciseSparse(input, ImageFormat.VPC); }

    @FuzzTest(maxDuration = "30s")
    void probe(byte[] input) { exercise(input, null); }

    /** Opens the bytes as an image of {@code format} and reads, maps and (qcow2) checks it. */
    public static void exercise(byte[] input, ImageFormat format) {
        exerciseFile(input, format, Files::write);
    }

    /** As {@link #exercise}, with the image described by a {@link SparseImageInput}. */
    static void exerciseSparse(byte[] input, ImageFormat format) {
        exerciseFile(input, format, (f, in) -> SparseImageInput.write(in, f));
    }

    private interface ImageWriter { void write(Path file, byte[] input) throws IOException; }

    /** Where the images are written: tmpfs when there is one (no disk I/O per execution). */
    private static Path scratch;

    private static synchronized Path scratch() throws IOException {
        if (scratch == null) scratch = FuzzRig.scratchDir("image-fuzz");
        return scratch;
    }

    private static void exerciseFile(byte[] input, ImageFormat format, ImageWriter writer) {
        Path f;
        try {
            f = Files.createTempFile(scratch(), "fuzz", ".img");
            writer.write(f, input);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (BlockDevice d = Images.open(f, new Images.Options(true, format, false, false))) {
            long size = d.size();
            byte[] buf = new byte[4096];
            // Bounded reading: the first and last 64 KiB and a few status queries.
            for (long off = 0; off < Math.min(size, 65536); off += buf.length) {
                d.read(off, MemorySegment.ofArray(buf).asSlice(0, Math.min(buf.length, size - off)));
            }
            if (size > 65536) {
                long tail = size - 65536;
                d.read(tail, MemorySegment.ofArray(new byte[65536]));
            }
            for (long off = 0, n = 0; off < size && n < 64; n++) {
                Extent e = d.status(off, size - off);
                off += e.length();
            }
            d.info();
            if (d instanceof Qcow2Image q && Files.size(f) < (64 << 20)) q.check();
        } catch (BlockException expected) {
            // A clear refusal is the right answer to a bad image.
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            try { Files.deleteIfExists(f); } catch (IOException ignored) { }
        }
    }
}
