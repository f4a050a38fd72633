package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Extent;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Qcow2Image#status} walked over the whole disk and merged as {@code qemu-img map} merges,
 * against {@code qemu-img map --output=json} on the same file (run at test time): every entry's
 * start, length, depth, present, zero, data and host offset. The image has runs of data contiguous
 * on the host and not, data from a backing file (itself qcow2, shorter than the top), zero clusters
 * with and without an allocation, compressed clusters, a discarded cluster over the backing file,
 * and the range past the end of the backing file; a second image has clusters preallocated in the
 * metadata only (file holes).
 */
@Timeout(120)
class Qcow2MapQemuOracleTest {
    private static final Pattern ENTRY = Pattern.compile(
            "\"start\": (\\d+), \"length\": (\\d+), \"depth\": (\\d+), \"present\": (true|false), \"zero\": (true|false), \"data\": (true|false)(?:, \"offset\": (\\d+))?");
    @TempDir Path tmp;

    @Test
    void aBackedImageOfEveryClusterKindMapsAsQemuMapsIt() {
        QemuTools.assumeAvailable();
        Path base = tmp.resolve("base.qcow2"), top = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), "512k");
        QemuTools.io(base, "qcow2", "write -P 7 0 64k", "write -P 8 400k 8k");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", base.getFileName().toString(), "-F", "qcow2", top.toString(), "1M");
        QemuTools.io(top, "qcow2", "write -P 1 0 8k", "write -P 2 16k 4k", "write -P 3 12k 4k", "write -z 32k 8k",
                "write -c -P 4 48k 4k", "write -c -P 5 52k 4k", "write -P 6 100k 12k", "write -z 104k 4k", "discard 20k 4k",
                "write -P 9 600k 4k", "write -P 9 604k 4k");
        assertSameMap(top);
    }

    @Test
    void clustersPreallocatedInTheMetadataOnlyMapAsQemuMapsThem() {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("prealloc.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096,preallocation=metadata", img.toString(), "256k");
        QemuTools.io(img, "qcow2", "write -P 1 64k 4k", "write -z 128k 8k");
        assertSameMap(img);
    }

    private static void assertSameMap(Path img) {
        List<String> qemu = new ArrayList<>();
        Matcher m = ENTRY.matcher(run("qemu-img", "map", "--output=json", img.toString()));
        while (m.find()) qemu.add(String.join(" ", m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6), m.group(7) == null ? "-" : m.group(7)));
        assertThat(qemu).as("qemu-img map entries").hasSizeGreaterThan(2);
        List<String> ours = new ArrayList<>();
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) {
            Extent cur = null;
            for (long off = 0; off < d.size(); ) {
                Extent e = d.status(off, d.size() - off);
                assertThat(e.offset()).isEqualTo(off);
                assertThat(e.length()).as("extent at %d", off).isPositive().isLessThanOrEqualTo(d.size() - off);
                if (cur != null && cur.mergeableWith(e)) cur = cur.mergedWith(e);
                else {
                    if (cur != null) ours.add(line(cur));
                    cur = e;
                }
                off += e.length();
            }
            ours.add(line(cur));
        }
        assertThat(ours).isEqualTo(qemu);
    }

    private static String line(Extent e) {
        return e.offset() + " " + e.length() + " " + e.depth() + " " + e.present() + " " + e.zero() + " " + e.data() + " "
                + (e.hostOffset() >= 0 ? e.hostOffset() : "-");
    }
}
