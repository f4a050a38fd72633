package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static dev.vmm.block.nbd.NbdTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Our server ({@link NbdServer}, as {@code vmm nbd} runs it) with QEMU's NBD client as the peer:
 * {@code qemu-img convert} over NBD must give exactly what qemu-img reads from the image file
 * itself, and {@code qemu-io}'s writes over NBD must land in the file.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdServerQemuTest {
    @TempDir Path tmp;

    @BeforeEach
    void tools() { assume("qemu-img", "qemu-io"); }

    private static byte[] randomImage(Path file, int size, long seed) throws Exception {
        byte[] b = new byte[size];
        Random r = new Random(seed);
        // Data with zero stretches in between, so sparse reads (holes) and data interleave.
        for (int off = 0; off < size; off += 65536) {
            if (r.nextInt(3) > 0) {
                byte[] chunk = new byte[Math.min(65536, size - off) - 512];
                r.nextBytes(chunk);
                System.arraycopy(chunk, 0, b, off + 512, chunk.length);
            }
        }
        Files.write(file, b);
        return b;
    }

    @Test
    void rawImageReadByQemuImgConvertIsByteEqual() throws Exception {
        Path img = tmp.resolve("disk.raw");
        byte[] data = randomImage(img, 8 << 20, 1);
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults());
             Served s = new Served(new NbdExport("disk", "a test disk", d, true, false, false, false, true), tmp.resolve("s.sock"), 4)) {
            Path out = tmp.resolve("out.raw");
            run("qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri("disk"), out.toString());
            assertThat(Files.readAllBytes(out)).isEqualTo(data);
            // qemu-img info over NBD sees the size; a wrong export name is refused.
            assertThat(run("qemu-img", "info", "--output=json", s.uri("disk"))).contains("\"virtual-size\": " + (8 << 20));
            Result wrong = exec(List.of("qemu-img", "info", s.uri("nope")));
            assertThat(wrong.exit()).isNotZero();
            assertThat(wrong.out()).containsIgnoringCase("export");
            assertThat(s.log).isEmpty();
        }
    }

    @Test
    void qcow2WithBackingFileReadByQemuMatchesQemuReadingTheFile() throws Exception {
        Path base = tmp.resolve("base.raw");
        randomImage(base, 4 << 20, 2);
        Path top = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString());
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 300k", "-c", "write -z 2M 128k", "-c", "write -P 0x11 3999k 2k", top.toString());
        Path reference = tmp.resolve("ref.raw");
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", top.toString(), reference.toString());
        try (BlockDevice d = Images.open(top, Images.Options.readOnlyDefaults());
             Served s = new Served(NbdExport.of("", d), tmp.resolve("q.sock"), 2)) {
            Path out = tmp.resolve("out.raw");
            run("qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri(""), out.toString());
            assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(reference));
        }
    }

    @Test
    void qemuIoWritesZeroesAndDiscardsOverNbdLandInTheImage() throws Exception {
        Path img = tmp.resolve("rw.raw");
        byte[] model = randomImage(img, 4 << 20, 3);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults());
             Served s = new Served(new NbdExport("rw", null, d, false, true, false, false, true), tmp.resolve("rw.sock"), 1)) {
            String out = run("qemu-io", "-f", "raw",
                    "-c", "write -P 0xab 4096 65536",
                    "-c", "write -P 0xcd -f 1000000 3000",      // FUA write at an odd offset
                    "-c", "write -z 2M 256k",
                    "-c", "discard 3M 64k",
                    "-c", "flush",
                    "-c", "read -P 0xab 4096 65536",
                    "-c", "read -P 0xcd 1000000 3000",
                    "-c", "read -P 0 2M 256k",
                    "-c", "read -P 0 3M 64k",
                    s.uri("rw"));
            assertThat(out).doesNotContain("failed").doesNotContain("error").doesNotContain("Pattern verification");
            assertThat(out).contains("wrote 65536/65536").contains("read 65536/65536").contains("discard 65536/65536");
        }
        java.util.Arrays.fill(model, 4096, 4096 + 65536, (byte) 0xab);
        java.util.Arrays.fill(model, 1000000, 1003000, (byte) 0xcd);
        java.util.Arrays.fill(model, 2 << 20, (2 << 20) + (256 << 10), (byte) 0);
        java.util.Arrays.fill(model, 3 << 20, (3 << 20) + (64 << 10), (byte) 0);
        assertThat(Files.readAllBytes(img)).isEqualTo(model);
    }

    @Test
    void qemuImgConvertIntoAQcow2ServedReadWriteGivesACleanIdenticalImage() throws Exception {
        // Writes through the server allocate qcow2 clusters from many virtual threads at once.
        Path src = tmp.resolve("src.raw");
        randomImage(src, 6 << 20, 6);
        Path dst = tmp.resolve("dst.qcow2");
        run("qemu-img", "create", "-f", "qcow2", "-o", "cluster_size=4k", dst.toString(), "6M");
        try (BlockDevice d = Images.open(dst, Images.Options.readWriteDefaults());
             Served s = new Served(new NbdExport("", null, d, false, true, false, false, true), tmp.resolve("c.sock"), 1)) {
            run("qemu-img", "convert", "-n", "-W", "-m", "16", "-f", "raw", "-O", "raw", src.toString(), s.uri(""));
        }
        run("qemu-img", "check", dst.toString());
        assertThat(run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), dst.toString())).contains("Images are identical");
    }

    @Test
    void qemuIoPatternMismatchIsDetectedOverNbd() throws Exception {
        // The read -P checks above can fail: a wrong pattern over our server is reported by qemu-io.
        Path img = tmp.resolve("p.raw");
        randomImage(img, 1 << 20, 4);
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults());
             Served s = new Served(NbdExport.of("", d), tmp.resolve("p.sock"), 1)) {
            Result r = exec(List.of("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x77 0 4096", s.uri("")));
            assertThat(r.out()).contains("Pattern verification failed");
        }
    }

    @Test
    void readOnlyExportRefusesWrites() throws Exception {
        Path img = tmp.resolve("ro.raw");
        byte[] data = randomImage(img, 1 << 20, 5);
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults());
             Served s = new Served(NbdExport.of("", d), tmp.resolve("ro.sock"), 1)) {
            // QEMU will not even open a read-only export for writing...
            Result r = exec(List.of("qemu-io", "-f", "raw", "-c", "write -P 1 0 4096", s.uri("")));
            assertThat(r.out()).contains("Permission denied").doesNotContain("wrote");
            // ...and a client that sends a write anyway gets EPERM.
            try (NbdConnection c = NbdConnection.open(NbdUri.parse(s.uri("")))) {
                assertThat(c.negotiated().readOnly()).isTrue();
                NbdConnection.Pending p = c.submit(NbdConstants.CMD_WRITE, 0, 0, 4, java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
                assertThat(p.future().get().errno()).isEqualTo(NbdErrno.EPERM);
            }
        }
        assertThat(Files.readAllBytes(img)).isEqualTo(data);
    }

    @Test
    void qemuImgMapOverNbdShowsTheBlockStatus() throws Exception {
        Path img = tmp.resolve("m.qcow2");
        run("qemu-img", "create", "-f", "qcow2", img.toString(), "4M");
        run("qemu-io", "-f", "qcow2", "-c", "write -P 1 64k 128k", "-c", "write -P 2 1M 64k", "-c", "write -z 2M 64k", img.toString());
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults());
             Served s = new Served(NbdExport.of("", d), tmp.resolve("m.sock"), 1)) {
            String map = run("qemu-img", "map", "--output=json", "-f", "raw", s.uri(""));
            // Data exactly where qemu-io wrote; the rest reads as zero.
            assertThat(map).containsPattern("\"start\": 65536, \"length\": 131072, [^}]*\"zero\": false, \"data\": true");
            assertThat(map).containsPattern("\"start\": 1048576, \"length\": 65536, [^}]*\"zero\": false, \"data\": true");
            assertThat(map).containsPattern("\"start\": 0, \"length\": 65536, [^}]*\"zero\": true, \"data\": false");
        }
    }
}
