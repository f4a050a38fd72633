package dev.vmm.block.fuzz;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The fuzz input of the image formats whose metadata lies megabytes apart (VHDX: headers at 64 KiB,
 * log, metadata and BAT at 1 MiB multiples; VPC fixed: the footer after the whole disk). As raw
 * bytes such an image is 3-12 MiB of mostly zeros: libFuzzer would need a huge {@code -max_len},
 * each execution would write megabytes, and almost every mutation would land in padding. So the
 * input describes a sparse file instead, and the mutations land on the metadata:
 *
 * <pre>
 *   u32 BE  file length (modulo {@link #MAX_FILE_LENGTH})
 *   then records, until the input ends:
 *   u32 BE  offset   u16 BE  n   n bytes of data (fewer if the input ends first)
 * </pre>
 *
 * Everything not written by a record reads as zero; record bytes beyond the file length are dropped
 * (so a mutated length also tests truncated files). {@link #encode} turns a real image into this
 * form (its non-zero runs), {@link #main} does it for seeds.
 */
final class SparseImageInput {

    /** Large enough for a 4 MiB VHDX with a 1 MiB log and fixed blocks (12 MiB), small enough to stay sparse and quick. */
    static final long MAX_FILE_LENGTH = 64L << 20;
    private static final int MAX_RECORD = 0xffff;
    /** Zero gaps shorter than this stay inside one record: a record header costs 6 bytes. */
    private static final int MERGE_GAP = 16;

    private SparseImageInput() { }

    /** Writes the file {@code input} describes to {@code file} (which exists and is empty or shorter). */
    static void write(byte[] input, Path file) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(input);
        long length = in.remaining() >= 4 ? Integer.toUnsignedLong(in.getInt()) % MAX_FILE_LENGTH : 0;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(length);
            while (in.remaining() >= 6) {
                long offset = Integer.toUnsignedLong(in.getInt());
                int n = Math.min(Short.toUnsignedInt(in.getShort()), in.remaining());
                int kept = (int) Math.max(0, Math.min(n, length - offset));
                if (kept > 0) {
                    f.seek(offset);
                    f.write(input, in.position(), kept);
                }
                in.position(in.position() + n);
            }
        }
    }

    /** The input that describes {@code image}: its length and its non-zero runs. */
    static byte[] encode(byte[] image) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writeInt(out, image.length);
        int i = 0;
        while (i < image.length) {
            if (image[i] == 0) { i++; continue; }
            int start = i, end = i, zeros = 0;
            while (i < image.length && i - start < MAX_RECORD && zeros < MERGE_GAP) {
                if (image[i] == 0) zeros++; else { zeros = 0; end = i + 1; }
                i++;
            }
            writeInt(out, start);
            out.write((end - start) >>> 8);
            out.write(end - start);
            out.write(image, start, end - start);
            i = end;
        }
        return out.toByteArray();
    }

    private static void writeInt(ByteArrayOutputStream out, int v) {
        out.write(v >>> 24); out.write(v >>> 16); out.write(v >>> 8); out.write(v);
    }

    /** {@code SparseImageInput IMAGE SEED}: writes the seed that describes IMAGE (used to make the committed seeds). */
    public static void main(String[] args) throws IOException {
        Files.write(Path.of(args[1]), encode(Files.readAllBytes(Path.of(args[0]))));
    }
}
