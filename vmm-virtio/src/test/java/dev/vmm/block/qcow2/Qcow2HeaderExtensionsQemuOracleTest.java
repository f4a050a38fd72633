package dev.vmm.block.qcow2;

import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The header extension walk: a qemu-made image (64 KiB clusters, a raw backing file whose name is
 * moved to 0x8000) gets its extension area rewritten from {@code header_length} on, and
 * {@link Qcow2Header#read} must accept it exactly when {@code qemu-img info} does (run at test
 * time on the same file), and then read the same backing file name and format.
 */
@Timeout(60)
class Qcow2HeaderExtensionsQemuOracleTest {
    private static final int BACKING_NAME_AT = 0x8000;
    @TempDir Path tmp;

    /**
     * {@code extensions}: {@code TYPE:LENGTH[:ASCII payload]} separated by {@code ;} (hex type,
     * decimal length; the payload is padded with zeroes to the length, then to 8 bytes), written
     * after a header of {@code headerLength} bytes (72: a version 2 header); zeroes follow (an end marker).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "backing format only                  | 104 | e2792aca:3:raw",
            "no extension at all                  | 104 | ",
            "an unknown extension first           | 104 | 12345678:5:hello;e2792aca:3:raw",
            "unknown extension of 0 bytes         | 104 | 0badf00d:0;e2792aca:3:raw",
            "backing format of 8 bytes, no NUL    | 104 | e2792aca:8:rawrawra",
            "backing format with a NUL inside     | 104 | e2792aca:8:raw",
            "two backing formats (the last counts)| 104 | e2792aca:5:qcow2;e2792aca:3:raw",
            "version 2 header with extensions     | 72  | e2792aca:3:raw",
            "header_length 112                    | 112 | e2792aca:3:raw",
            "header_length 120, extensions after  | 120 | e2792aca:3:raw",
            "extension running past the cluster   | 104 | 12345678:65536",
            "extension length 0xffffffff          | 104 | 12345678:4294967295",
            "extension running into the backing name (at the cluster end) | 104 | 12345678:65424",
            "extension ending where the backing name starts | 104 | 12345678:32656",
            "extension 1 byte into the backing name | 104 | 12345678:32657",
            "feature table of 47 bytes            | 104 | 6803f857:47:x;e2792aca:3:raw",
            "feature table of 96 bytes            | 104 | 6803f857:96;e2792aca:3:raw",
            "bitmaps extension without its autoclear bit | 104 | 23852875:24:garbage-garbage-garbage-gar;e2792aca:3:raw",
            "data file extension without its bit  | 104 | 44415441:8:data.raw;e2792aca:3:raw",
            "crypto extension without crypt_method| 104 | 0537be77:16;e2792aca:3:raw",
    })
    void extensionsAreWalkedAsQemuWalksThem(String what, int headerLength, String extensions) throws IOException {
        QemuTools.assumeAvailable();
        Path base = tmp.resolve("base.raw"), img = tmp.resolve("x.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", base.toString(), "1M");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=" + (headerLength == 72 ? "0.10" : "1.1")
                + ",cluster_size=65536,backing_file=" + base + ",backing_fmt=raw", img.toString(), "1M");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(16);
            int nameLen = f.readInt();
            byte[] name = new byte[nameLen];
            f.seek(readLong(f, 8));
            f.readFully(name);
            int start = headerLength == 72 ? 72 : headerLength;
            f.seek(start);
            f.write(new byte[BACKING_NAME_AT - start]); // zero the whole extension area
            f.seek(BACKING_NAME_AT);
            f.write(name);
            f.seek(8);
            f.writeLong(BACKING_NAME_AT);
            if (headerLength != 72) {
                f.seek(100);
                f.writeInt(headerLength);
            }
            long off = start;
            for (String ext : extensions == null ? new String[0] : extensions.split(";")) {
                String[] p = ext.split(":", 3);
                long len = Long.parseLong(p[1]);
                f.seek(off);
                f.writeInt((int) Long.parseLong(p[0], 16));
                f.writeInt((int) len);
                if (p.length > 2) f.write(p[2].getBytes(StandardCharsets.US_ASCII));
                off += 8 + ((len + 7) & ~7L);
                if (off > BACKING_NAME_AT) break; // a length that runs past the area: nothing more to write
            }
        }
        HeaderVerdict v = HeaderVerdict.of(img);
        if (!v.sameAcceptance(what)) return;
        Qcow2Header ours = v.ours();
        QemuTools.Result q = v.qemu();
        assertThat(ours.backingFile).as("backing file").isEqualTo(Qcow2HeaderFieldsQemuOracleTest.string(q.out(), "backing-filename"));
        assertThat(ours.backingFormat).as("backing format").isEqualTo(Qcow2HeaderFieldsQemuOracleTest.string(q.out(), "backing-filename-format"));
        assertThat(ours.headerLength).isEqualTo(headerLength);
        assertThat(ours.version).isEqualTo(headerLength == 72 ? 2 : 3);
    }

    private static long readLong(RandomAccessFile f, long at) throws IOException {
        f.seek(at);
        return f.readLong();
    }
}
