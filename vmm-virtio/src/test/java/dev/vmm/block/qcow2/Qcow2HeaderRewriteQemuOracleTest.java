package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a read-write session of ours leaves of a qemu-made header: a v3 image with lazy refcounts
 * (the dirty bit is set while open), a raw backing file with its format, a persistent bitmap and an
 * extension unknown to both programs. Only the autoclear field may change (we do not maintain
 * bitmaps, so the bitmaps bit is cleared, as the spec asks of a program without bitmap support);
 * every other byte of the header cluster, the unknown extension included, must be kept. The oracle,
 * at test time: {@code qemu-img info} reads the same backing file and format and no longer lists
 * the bitmap; {@code qemu-img check} and our checker give the same counts (the bitmap's clusters are
 * now leaks for both), and after {@code qemu-img check -r leaks} both call it clean; qemu-io reads
 * what we wrote and what the backing file holds.
 */
@Timeout(120)
class Qcow2HeaderRewriteQemuOracleTest {
    private static final int NAME_AT = 0x8000, UNKNOWN = 0x7a7a7a7a;
    @TempDir Path tmp;

    @Test
    void aSessionOfOursKeepsEveryHeaderByteButTheAutoclearBits() throws IOException {
        QemuTools.assumeAvailable();
        Path base = tmp.resolve("base.raw"), img = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", base.toString(), "2M");
        QemuTools.io(base, "raw", "write -P 5 1M 64k");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536,lazy_refcounts=on,backing_file=" + base
                + ",backing_fmt=raw", img.toString(), "2M");
        run("qemu-img", "bitmap", "--add", img.toString(), "b0");
        QemuTools.io(img, "qcow2", "write -P 1 0 64k");
        assertThat(run("qemu-img", "info", "-U", "--output=json", img.toString())).as("premise").contains("\"bitmaps\"");
        insertUnknownExtension(img);
        byte[] before = headerCluster(img);

        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            assertThat(d).isInstanceOf(Qcow2Image.class);
            MemorySegment buf = Arena.ofAuto().allocate(65536);
            buf.fill((byte) 7);
            d.write(128 << 10, buf);
            d.flush();
        }
        byte[] after = headerCluster(img);
        assertThat(Arrays.copyOfRange(after, 88, 96)).as("autoclear bits cleared").containsOnly((byte) 0);
        Arrays.fill(before, 88, 96, (byte) 0);
        assertThat(after).as("every other byte of the header cluster kept").isEqualTo(before);

        String info = run("qemu-img", "info", "-U", "--output=json", img.toString());
        assertThat(Qcow2HeaderFieldsQemuOracleTest.string(info, "backing-filename")).isEqualTo(base.toString());
        assertThat(Qcow2HeaderFieldsQemuOracleTest.string(info, "backing-filename-format")).isEqualTo("raw");
        assertThat(info).as("QEMU no longer trusts the bitmap").doesNotContain("\"bitmaps\"");
        assertThat(Qcow2HeaderFieldsQemuOracleTest.bool(info, "dirty-flag", true)).isFalse();
        Map<String, Long> theirs = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        assertThat(theirs.get("corruptions")).isZero();
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).isEqualTo(theirs);

        QemuTools.Result r = QemuTools.exec("qemu-img", "check", "-r", "leaks", img.toString());
        assertThat(r.exit()).as("qemu-img check -r leaks: %s%s", r.out(), r.err()).isZero();
        Map<String, Long> repaired = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        assertThat(repaired.get("leaks") + repaired.get("corruptions")).isZero();
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).isEqualTo(repaired);
        QemuTools.io(img, "qcow2", "read -P 1 0 64k", "read -P 7 128k 64k", "read -P 5 1M 64k", "read -P 0 64k 64k");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            assertThat(Qcow2HeaderFieldsQemuOracleTest.extension(f, UNKNOWN)).as("unknown extension still there").isPositive();
        }
    }

    /** Moves the backing file name to {@link #NAME_AT} and puts a 12-byte unknown extension where the end marker was. */
    private static void insertUnknownExtension(Path img) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(8);
            long nameAt = f.readLong();
            int nameLen = f.readInt();
            byte[] name = new byte[nameLen];
            f.seek(nameAt);
            f.readFully(name);
            f.seek(nameAt);
            f.write(new byte[nameLen]);
            f.seek(NAME_AT);
            f.write(name);
            f.seek(8);
            f.writeLong(NAME_AT);
            long end = Qcow2HeaderFieldsQemuOracleTest.extension(f, 0);
            f.seek(end);
            f.writeInt(UNKNOWN);
            f.writeInt(12);
            f.write("unknown-ext!".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            f.write(new byte[4 + 8]); // padding to 8, then the end marker
        }
    }

    private static byte[] headerCluster(Path img) throws IOException {
        byte[] all = Files.readAllBytes(img);
        return Arrays.copyOf(all, 65536);
    }
}
