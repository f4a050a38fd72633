package dev.vmm.block.qcow2;

import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Header fields at and just past their limits: {@link Qcow2Header#read} must accept exactly the
 * headers that QEMU accepts ({@code qemu-img info}, run at test time on the same patched file), and
 * where both accept, read the same virtual size and backing file name.
 *
 * <p>Where the last column is not {@code same}, the project is stricter than QEMU on purpose: QEMU
 * opens an image whose tables lie past the end of the file (and fails or reads zeroes later), we
 * refuse it at open with one clear line (docs/block.md; {@code MalformedImageTest}); a refcount
 * table at offset 0 (QEMU reads the header as one); the external-data-file bit (qemu-img info
 * opens without I/O, so it does not ask for the data file; we support none). Those rows
 * check that QEMU does accept them (so the divergence is real) and that our error names the field.
 */
@Timeout(60)
class Qcow2HeaderQemuOracleTest {
    private static final Pattern SIZE = Pattern.compile("\"virtual-size\": (\\d+)");
    private static final Pattern BACKING = Pattern.compile("\"backing-filename\": \"([^\"]*)\"");
    @TempDir Path tmp;

    /** A qemu-made v3 image (64 KiB clusters, 1 MiB), then one big-endian field patched. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "header_length 104 (the minimum),  100, 4, 104, same",
            "header_length 103,                100, 4, 103, same",
            "header_length 112,                100, 4, 112, same",
            "header_length one cluster,        100, 4, 65536, same",
            "header_length past the cluster,   100, 4, 65537, same",
            "refcount_order 6 (the maximum),   96,  4, 6, same",
            "refcount_order 7,                 96,  4, 7, same",
            "refcount_order 0,                 96,  4, 0, same",
            "size with a partial last sector,  24,  8, 1048676, same",
            "size 0,                           24,  8, 0, same",
            "l1_size 0 for a 1 MiB disk,       36,  4, 0, same",
            "l1_size 2,                        36,  4, 2, 16 bytes) lies past the end of the file",
            "l1_size of 4 Mi entries (32 MiB), 36,  4, 4194304, lies past the end",
            "l1_size past the cap,             36,  4, 4194305, same",
            "refcount_table_clusters 0,        56,  4, 0, same",
            "refcount table not cluster aligned, 48, 8, 66048, same",
            "L1 table offset 0,                40,  8, 0, L1 table offset 0x0 is invalid",
            "L1 table past the end of the file, 40, 8, 1099511627776, L1 table (offset 0x10000000000",
            "unknown incompatible bit 5,       72,  8, 32, same",
            "dirty bit (read-only open is fine), 72, 8, 1, same",
            "unknown compatible bit 7,         80,  8, 128, same",
            "snapshot count without a table,   60,  4, 1, snapshot table offset 0x0 is invalid",
            "backing name of 1023 bytes,       16,  4, 1023, same",
            "backing name of 1024 bytes,       16,  4, 1024, same",
            "version 1,                        4,   4, 1, same",
            "version 2 over a v3 header,       4,   4, 2, same",
            "version 4,                        4,   4, 4, same",
            "cluster_bits 8,                   20,  4, 8, same",
            "cluster_bits 15,                  20,  4, 15, same",
            "cluster_bits 21,                  20,  4, 21, same",
            "cluster_bits 22,                  20,  4, 22, same",
            "crypt_method 3 (unknown),         32,  4, 3, same",
            "compression_type 1 without its bit, 104, 1, 1, same",
            "compression_type 2 (unknown),     104, 1, 2, same",
            "incompatible bit 2 without a data file, 72, 8, 4, external data file",
            "incompatible bit 3 with zlib,     72,  8, 8, same",
            "incompatible bit 4 (extended L2), 72,  8, 16, same",
            "autoclear bits 0 and 1 without extensions, 88, 8, 3, same",
            "refcount table of 8 MiB + 1 cluster, 56, 4, 129, same",
            "L1 table offset not cluster aligned, 40, 8, 197120, same",
            "refcount table offset 0 (over the header), 48, 8, 0, refcount table offset 0x0 is invalid",
            "backing file offset past the cluster, 8, 8, 131072, same",
            "nb_snapshots past 65536,          60,  4, 65537, same",
            "size past 2^61,                   24,  8, 2305843009213694464, same",
            "size 2^63 (negative as a long),   24,  8, -9223372036854775808, same",
            "l1_size 0xffffffff,               36,  4, 4294967295, same",
            "refcount table of 8 MiB (the cap), 56, 4, 128, lies past the end",
            "nb_snapshots 65536 (the cap),     60,  4, 65536, same",
            "backing name of 0 bytes,          16,  4, 0, same",
    })
    void acceptsExactlyWhatQemuAccepts(String what, long offset, int width, long value, String stricter) throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("h.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=1.1,cluster_size=65536", img.toString(), "1M");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            if (offset == 16) { // a backing file name of 'value' bytes at 0x8000, inside the header cluster
                byte[] name = new byte[(int) value];
                Arrays.fill(name, (byte) 'b');
                f.seek(0x8000);
                f.write(name);
                f.seek(8);
                f.writeLong(0x8000);
            }
            f.seek(offset);
            for (int i = width - 1; i >= 0; i--) f.write((int) (value >>> (8 * i)));
        }
        HeaderVerdict v = HeaderVerdict.of(img);
        QemuTools.Result q = v.qemu();
        if (!stricter.equals("same")) {
            assertThat(q.exit()).as("%s: qemu-img info accepts it (%s)", what, q.err().strip()).isZero();
            assertThat(v.error()).as("%s: we refuse it at open", what).isNotNull().contains(stricter).doesNotContain("\n");
            return;
        }
        if (!v.sameAcceptance(what)) return;
        Qcow2Header ours = v.ours();
        Matcher size = SIZE.matcher(q.out());
        assertThat(size.find()).isTrue();
        assertThat(ours.size).as("virtual size").isEqualTo(Long.parseLong(size.group(1)));
        Matcher backing = BACKING.matcher(q.out());
        assertThat(ours.backingFile).as("backing file").isEqualTo(backing.find() ? backing.group(1) : null);
    }

    /**
     * The bitmaps extension, made by {@code qemu-img bitmap --add}, then one of its fields patched
     * (offsets from the extension's start: 4 length, 8 nb_bitmaps, 12 reserved, 16 directory size,
     * 24 directory offset): accepted exactly when QEMU accepts it.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "as qemu-img wrote it,        0,  4, 0",
            "nb_bitmaps 0,                8,  4, 0",
            "nb_bitmaps 65536,            8,  4, 65536",
            "reserved field not zero,     12, 4, 1",
            "directory size 0,            16, 8, 0",
            "directory size past the cap, 16, 8, 67107841",
            "directory offset 0,          24, 8, 0",
            "directory offset unaligned,  24, 8, 66048",
    })
    void bitmapsExtensionIsAcceptedExactlyWhenQemuAcceptsIt(String what, int field, int width, long value) throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("b.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=1.1,cluster_size=65536", img.toString(), "1M");
        run("qemu-img", "bitmap", "--add", img.toString(), "b0");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long ext = -1;
            f.seek(100); // header_length: the extensions follow it
            for (long off = f.readInt(); off + 8 <= 4096 && ext < 0; ) { // walk the extensions after the v3 header
                f.seek(off);
                int type = f.readInt(), len = f.readInt();
                if (type == Qcow2Header.EXT_BITMAPS) ext = off;
                else if (type == 0) break;
                else off += 8 + ((len + 7) & ~7);
            }
            assertThat(ext).as("qemu-img wrote a bitmaps extension").isPositive();
            if (field != 0) {
                f.seek(ext + field);
                for (int i = width - 1; i >= 0; i--) f.write((int) (value >>> (8 * i)));
            }
        }
        HeaderVerdict v = HeaderVerdict.of(img);
        if (v.sameAcceptance(what)) assertThat(v.ours().hasBitmaps).isTrue();
    }
}
