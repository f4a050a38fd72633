package dev.vmm.block;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static dev.vmm.block.QemuTools.io;
import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/** Images made by qemu-img/qemu-io: every byte we read equals {@code qemu-img convert -O raw}. */
class QemuReferenceReadTest {
    @TempDir Path tmp;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable();
    }

    /** The same write pattern on every format: unaligned, cluster-crossing, zeroes and discards. */
    private static final String[] WRITES = {
            "write -P 0x11 0 64k", "write -P 0x22 100k 3k", "write -P 0x33 1020k 8k", "write -P 0x44 2m 1m",
            "write -P 0x55 3999k 1k", "write -P 0x66 511 2"};

    static void assertSameAsQemu(Path image, Path tmp) throws IOException {
        assertSameAsQemu(image, null, tmp);
    }

    static void assertSameAsQemu(Path image, ImageFormat format, Path tmp) throws IOException {
        byte[] expected = QemuTools.toRaw(image, format == null ? null : format.qemuName(), tmp);
        try (BlockDevice d = Images.open(image, Images.Options.readOnlyDefaults().withFormat(format))) {
            assertThat(d.size()).isEqualTo(expected.length);
            byte[] all = new byte[expected.length];
            d.read(0, MemorySegment.ofArray(all));
            assertThat(Arrays.mismatch(all, expected)).as("first differing byte of " + image.getFileName()).isEqualTo(-1);
            // Random unaligned reads into native memory too.
            Random r = new Random(image.getFileName().toString().hashCode());
            try (Arena a = Arena.ofConfined()) {
                for (int i = 0; i < 200; i++) {
                    int len = 1 + r.nextInt(200_000);
                    long off = r.nextLong(Math.max(1, expected.length - len));
                    MemorySegment seg = a.allocate(len);
                    d.read(off, seg);
                    assertThat(seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                            .isEqualTo(Arrays.copyOfRange(expected, (int) off, (int) off + len));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.10:512", "0.10:65536", "1.1:512", "1.1:65536", "1.1:2097152"})
    void qcow2WithZeroesAndDiscards(String spec) throws IOException {
        String[] p = spec.split(":");
        Path img = tmp.resolve("t.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=" + p[0] + ",cluster_size=" + p[1], img.toString(), "4M");
        io(img, "qcow2", WRITES);
        io(img, "qcow2", "write -z 2m 128k", "write -z 2100k 3k", "discard 0 64k", "discard 1m 512");
        assertSameAsQemu(img, tmp);
    }

    @Test
    void qcow2BackingChain() throws IOException {
        Path base = tmp.resolve("base.raw"), mid = tmp.resolve("mid.qcow2"), top = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", base.toString(), "4M");
        io(base, "raw", "write -P 0xaa 0 4m");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", mid.toString(), "4M");
        io(mid, "qcow2", "write -P 0xbb 1m 100k", "write -z 3m 64k");
        // v2 top without a backing format (probed), bigger than its backing.
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=512", "-b", mid.toString(), "-F", "qcow2", top.toString(), "6M");
        io(top, "qcow2", "write -P 0xcc 1050k 10k", "write -P 0xdd 5m 4k", "discard 3m 64k");
        assertSameAsQemu(top, tmp);
    }

    @ParameterizedTest
    @ValueSource(strings = {"512", "65536"})
    void qcow2Compressed(String clusterSize) throws IOException {
        Path raw = tmp.resolve("c.raw"), img = tmp.resolve("c.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "3M");
        io(raw, "raw", "write -P 0x12 0 1m", "write -P 0x34 1500k 300k");
        // Some incompressible data too.
        byte[] noise = new byte[200_000];
        new Random(1).nextBytes(noise);
        try (var ch = java.nio.channels.FileChannel.open(raw, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(noise), 2_500_000);
        }
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=" + clusterSize, raw.toString(), img.toString());
        io(img, "qcow2", "write -P 0x56 10k 1k");
        assertSameAsQemu(img, tmp);
        assertThat(Files.readAllBytes(raw)).isEqualTo(QemuTools.toRaw(raw, tmp));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vhdx:dynamic", "vhdx:fixed", "vpc:dynamic", "vpc:fixed"})
    void microsoftFormats(String spec) throws IOException {
        String[] p = spec.split(":");
        Path img = tmp.resolve("m." + p[0]);
        String opts = "subformat=" + p[1] + (p[0].equals("vhdx") ? ",block_size=1M" : "");
        run("qemu-img", "create", "-q", "-f", p[0], "-o", opts, img.toString(), "5M");
        // vpc sizes round to the CHS geometry: stay below the rounded size.
        io(img, p[0], "write -P 0x11 0 64k", "write -P 0x22 100k 3k", "write -P 0x33 1020k 8k", "write -P 0x44 2m 1m", "write -P 0x66 511 2");
        if (spec.equals("vpc:fixed")) {
            // Only a footer identifies a fixed VPC image: it is never probed (a raw disk could forge one).
            assertThat(Images.probe(img)).isEqualTo(ImageFormat.RAW);
            assertSameAsQemu(img, ImageFormat.VPC, tmp);
        } else {
            assertThat(Images.probe(img).qemuName()).isEqualTo(p[0]);
            assertSameAsQemu(img, tmp);
        }
    }

    @Test
    void rawIsProbedAsRaw() throws IOException {
        Path img = tmp.resolve("looks-like.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", img.toString(), "1M");
        io(img, "raw", "write -P 0x77 4k 4k");
        assertThat(Images.probe(img)).isEqualTo(ImageFormat.RAW);
        assertSameAsQemu(img, tmp);
    }
}
