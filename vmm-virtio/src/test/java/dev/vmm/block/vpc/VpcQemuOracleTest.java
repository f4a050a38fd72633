package dev.vmm.block.vpc;

import static dev.vmm.block.QemuTools.exec;
import static dev.vmm.block.QemuTools.io;
import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VHD footers whose fields QEMU interprets in more than one way, compared with qemu-img itself
 * (QEMU 7.2 is the oracle, run here): which creators make the footer's current size win over the
 * CHS geometry, the maximum-geometry rule, sizes that are not a whole number of sectors, the
 * largest size there is, the allocation map, and the cluster size {@code qemu-img info} reports.
 */
@Timeout(120)
class VpcQemuOracleTest {
    @TempDir Path tmp;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable();
    }

    private static final Images.Options VPC = Images.Options.readOnlyDefaults().withFormat(ImageFormat.VPC);
    private static final long FIVE_MIB = 5L << 20; // not a CHS size: the geometry rounds it up

    /** A dynamic image made by qemu-img (creator "qemu": CHS), then footer fields patched, checksum redone. */
    private Path dynamic(String name, String size, Consumer<ByteBuffer> patch) throws IOException {
        Path p = tmp.resolve(name);
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", p.toString(), size);
        patchFooters(p, patch);
        return p;
    }

    /** Applies {@code patch} to both footer copies (at 0 and at the end) and recomputes their checksums. */
    static void patchFooters(Path p, Consumer<ByteBuffer> patch) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            for (long at : new long[] {0, f.length() - 512}) {
                byte[] b = new byte[512];
                f.seek(at);
                f.readFully(b);
                if (!new String(b, 0, 8, StandardCharsets.ISO_8859_1).equals("conectix")) continue;
                ByteBuffer footer = ByteBuffer.wrap(b);
                patch.accept(footer);
                footer.putInt(64, 0);
                int sum = 0;
                for (byte x : b) sum += x & 0xff;
                footer.putInt(64, ~sum);
                f.seek(at);
                f.write(b);
            }
        }
    }

    private static Consumer<ByteBuffer> creatorAndCurrentSize(String creator, long currentSize) {
        return f -> {
            f.put(28, creator.getBytes(StandardCharsets.ISO_8859_1));
            f.putLong(48, currentSize);
        };
    }

    private static long qemuVirtualSize(Path p) {
        Matcher m = Pattern.compile("\"virtual-size\": (\\d+)").matcher(run("qemu-img", "info", "-f", "vpc", "--output=json", p.toString()));
        assertThat(m.find()).isTrue();
        return Long.parseLong(m.group(1));
    }

    private static long ourSize(Path p) {
        try (BlockDevice d = Images.open(p, VPC)) {
            return d.size();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu", "qem2", "win ", "d2v ", "CTXS", "tap\0", "vpc ", "vs  "})
    void virtualSizeFromGeometryOrCurrentSizeByCreator(String creator) throws IOException {
        Path p = dynamic("c.vpc", "5M", creatorAndCurrentSize(creator, FIVE_MIB));
        assertThat(ourSize(p)).isEqualTo(qemuVirtualSize(p));
    }

    @Test
    void maximumGeometryMeansTheCurrentSizeWhateverTheCreator() throws IOException {
        Path p = dynamic("g.vpc", "5M", creatorAndCurrentSize("qemu", FIVE_MIB).andThen(f -> {
            f.putShort(56, (short) 65535);
            f.put(58, (byte) 16);
            f.put(59, (byte) 255);
        }));
        assertThat(ourSize(p)).isEqualTo(qemuVirtualSize(p)).isEqualTo(FIVE_MIB);
    }

    @Test
    void aCurrentSizeThatIsNotWholeSectorsIsRoundedDownLikeQemu() throws IOException {
        Path p = dynamic("r.vpc", "5M", creatorAndCurrentSize("win ", FIVE_MIB + 300));
        assertThat(ourSize(p)).isEqualTo(qemuVirtualSize(p));
    }

    @Test
    void theLargestImageQemuCreatesOpensWithItsSize() throws IOException {
        Path p = tmp.resolve("big.vpc");
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic,force_size=on", p.toString(), "2040G");
        assertThat(ourSize(p)).isEqualTo(qemuVirtualSize(p)).isEqualTo(2040L << 30);
        // One sector more than that: both refuse it (the header's table would be too small anyway).
        patchFooters(p, f -> f.putLong(48, (2040L << 30) + 512));
        assertThat(exec("qemu-img", "info", "-f", "vpc", p.toString()).exit()).isNotZero();
        assertThatThrownBy(() -> ourSize(p)).isInstanceOf(ImageFormatException.class);
    }

    @Test
    void aBlockTableExactlyAsLargeAsTheDiskAndALastBlockEndingAtTheEndOfTheFile() throws IOException {
        // 4 MiB, current size: two 2 MiB blocks, no slack in the table.
        Path p = tmp.resolve("e.vpc");
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic,force_size=on", p.toString(), "4M");
        io(p, "vpc", "write -P 0x5a 2m 4k");
        // Drop the trailing footer copy: the block written last now ends exactly at the end of the
        // file, and the footer at offset 0 is the only one (QEMU reads that copy first too).
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(f.length() - 512);
        }
        io(p, "vpc", "read -P 0x5a 2m 4k", "read -P 0 0 2m");     // QEMU confirms the contents
        long qemuSize = qemuVirtualSize(p);
        try (BlockDevice d = Images.open(p, VPC)) {
            assertThat(d.size()).isEqualTo(qemuSize).isEqualTo(4L << 20);
            byte[] b = new byte[4096];
            d.read(2L << 20, java.lang.foreign.MemorySegment.ofArray(b));
            assertThat(b).containsOnly(0x5a);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void clusterSizeAsQemuImgInfoReportsIt(String subformat) {
        Path p = tmp.resolve(subformat + ".vpc");
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=" + subformat, p.toString(), "3M");
        Matcher m = Pattern.compile("\"cluster-size\": (\\d+)").matcher(run("qemu-img", "info", "-f", "vpc", "--output=json", p.toString()));
        long qemu = m.find() ? Long.parseLong(m.group(1)) : 0;  // fixed images have none
        long qemuSize = qemuVirtualSize(p);                    // before we open (and lock) the image
        try (BlockDevice d = Images.open(p, VPC)) {
            assertThat(d.info().clusterSize()).isEqualTo(qemu);
            assertThat(d.info().virtualSize()).isEqualTo(qemuSize);
            assertThat(d.info().formatSpecific()).containsEntry("subformat", subformat).containsEntry("creator", "qemu");
        }
    }

    private record MapEntry(long start, long length, boolean data, long offset) { }

    private static List<MapEntry> qemuMap(Path p) {
        String json = run("qemu-img", "map", "-f", "vpc", "--output=json", p.toString());
        Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)(?:, \"offset\": (\\d+))?").matcher(json);
        List<MapEntry> out = new ArrayList<>();
        while (m.find()) {
            out.add(new MapEntry(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), m.group(3).equals("true"),
                    m.group(4) == null ? -1 : Long.parseLong(m.group(4))));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void allocationAndHostOffsetsAsQemuImgMap(String subformat) {
        Path p = tmp.resolve("m.vpc");
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=" + subformat, p.toString(), "9M");
        io(p, "vpc", "write -P 0x11 0 4k", "write -P 0x22 2050k 1k", "write -P 0x33 6m 2m");
        List<MapEntry> map = qemuMap(p);
        assertThat(map).isNotEmpty();
        try (BlockDevice d = Images.open(p, VPC)) {
            long covered = 0;
            for (MapEntry e : map) {
                // First and last byte of every entry qemu-img reports: same allocation, same file offset.
                for (long at : new long[] {e.start, e.start + e.length - 1}) {
                    Extent x = d.status(at, d.size() - at);
                    assertThat(x.data()).as("data at %d", at).isEqualTo(e.data);
                    if (e.data) assertThat(x.hostOffset()).as("offset at %d", at).isEqualTo(e.offset + (at - e.start));
                    assertThat(x.offset() + x.length()).as("extent at %d stays in the image", at).isLessThanOrEqualTo(d.size());
                }
                covered += e.length;
            }
            assertThat(covered).isEqualTo(d.size());
            // The first extent of a dynamic image reaches exactly to the end of the first written block.
            if (subformat.equals("dynamic")) {
                assertThat(d.status(0, d.size()).length()).isEqualTo(map.get(0).length);
            }
        }
    }
}
