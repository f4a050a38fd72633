package dev.vmm.block.qcow2;

import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Qcow2Checker} against the oracle, {@code qemu-img check --output=json} run on the same file
 * at test time: every count both report (corruptions, leaks, allocated / total / fragmented /
 * compressed clusters, image end offset) must be equal, for clean images of several shapes and for
 * images damaged on purpose (a leaked cluster, a refcount below its references).
 */
@Timeout(120)
class Qcow2CheckerQemuOracleTest {
    private static final Pattern FIELD = Pattern.compile("\"([a-z-]+)\": (\\d+)");
    @TempDir Path tmp;

    /**
     * The image the damage tests start from: 1 MiB with 4 KiB clusters, made by qemu-img, guest
     * clusters 0 and 2 written by qemu-io (patterns 1 and 2), so it has one L2 table and two data
     * clusters to damage.
     */
    static Path twoClustersWritten(Path img) throws IOException {
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img.toString(), "1M");
        QemuTools.io(img, "qcow2", "write -P 1 0 4k", "write -P 2 8k 4k");
        return img;
    }

    /** The numeric fields of qemu-img's JSON report; QEMU leaves out the counts that are zero. */
    static Map<String, Long> qemuCheck(Path img) {
        QemuTools.Result r = QemuTools.exec("qemu-img", "check", "--output=json", img.toString());
        assertThat(r.exit()).as("qemu-img check exit status (0 clean, 2 corrupt, 3 leaks): %s", r.err()).isIn(0, 2, 3);
        Map<String, Long> m = new LinkedHashMap<>();
        for (String k : new String[] {"corruptions", "leaks", "allocated-clusters", "total-clusters", "fragmented-clusters",
                "compressed-clusters", "image-end-offset"}) m.put(k, 0L);
        Matcher f = FIELD.matcher(r.out());
        while (f.find()) if (m.containsKey(f.group(1))) m.put(f.group(1), Long.parseLong(f.group(2)));
        return m;
    }

    static Map<String, Long> ourCheck(Path img) {
        try (Qcow2Image d = (Qcow2Image) Images.open(img, Images.Options.readOnlyDefaults())) {
            Qcow2Checker.Result r = d.check();
            Map<String, Long> m = new LinkedHashMap<>();
            m.put("corruptions", r.corruptions());
            m.put("leaks", r.leaks());
            m.put("allocated-clusters", r.allocatedClusters());
            m.put("total-clusters", r.totalClusters());
            m.put("fragmented-clusters", r.fragmentedClusters());
            m.put("compressed-clusters", r.compressedClusters());
            m.put("image-end-offset", r.imageEndOffset());
            return m;
        }
    }

    private static final Pattern CLUSTER_LINE = Pattern.compile("(?m)^(ERROR|Leaked) cluster \\d+ refcount=\\d+ reference=\\d+$");

    /**
     * The per-cluster lines ("ERROR cluster N refcount=X reference=Y", "Leaked cluster ...") of
     * {@code qemu-img check}'s text report against our checker's messages: ours are capped at 100
     * messages of every kind, so they must be a subset of QEMU's, and all of them below the cap.
     * Returns the number of QEMU's lines.
     */
    static int assertSameClusterMessages(Path img) {
        QemuTools.Result r = QemuTools.exec("qemu-img", "check", img.toString());
        java.util.Set<String> theirs = new java.util.TreeSet<>();
        Matcher m = CLUSTER_LINE.matcher(r.out() + "\n" + r.err());
        while (m.find()) theirs.add(m.group());
        java.util.List<String> messages;
        try (Qcow2Image d = (Qcow2Image) Images.open(img, Images.Options.readOnlyDefaults())) {
            messages = d.check().messages();
        }
        java.util.Set<String> ours = new java.util.TreeSet<>();
        for (String s : messages) if (CLUSTER_LINE.matcher(s).matches()) ours.add(s);
        assertThat(messages.size()).as("messages are capped").isLessThanOrEqualTo(100);
        if (messages.size() < 100) assertThat(ours).as("per-cluster lines vs qemu-img check").isEqualTo(theirs);
        else assertThat(theirs).as("per-cluster lines vs qemu-img check").containsAll(ours);
        return theirs.size();
    }

    private static void assertSameAsQemu(Path img) {
        assertThat(ourCheck(img)).as("our check of %s vs qemu-img check", img.getFileName()).isEqualTo(qemuCheck(img));
    }

    /** Scattered writes (out of guest order: fragmentation), zero writes, a snapshot and writes after it (COW). */
    @Test
    void cleanImagesOfEveryShapeCountAsQemuCounts() {
        QemuTools.assumeAvailable();
        for (String compat : new String[] {"0.10", "1.1"}) {
            Path img = tmp.resolve("c" + compat + ".qcow2");
            run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=" + compat + ",cluster_size=4096", img.toString(), "3M");
            QemuTools.io(img, "qcow2", "write -P 1 1M 4k", "write -P 2 0 4k", "write -P 3 64k 12k", "write -z 200k 8k",
                    "write -P 4 2M 4k", "write -z 2M 4k", "write -P 5 300k 4k");
            assertSameAsQemu(img);
            run("qemu-img", "snapshot", "-c", "s1", img.toString());
            QemuTools.io(img, "qcow2", "write -P 6 0 4k", "write -P 7 1M 8k", "discard 64k 4k");
            assertSameAsQemu(img);
        }
    }

    @Test
    void compressedClustersAreCountedAsQemuCountsThem() throws IOException {
        QemuTools.assumeAvailable();
        Path raw = tmp.resolve("src.raw");
        byte[] data = new byte[1 << 20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i % 251 < 100 ? i / 4096 : 0);
        Files.write(raw, data);
        Path img = tmp.resolve("z.qcow2");
        run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw.toString(), img.toString());
        QemuTools.io(img, "qcow2", "write -P 9 8k 4k");
        Map<String, Long> ours = ourCheck(img);
        assertThat(ours.get("compressed-clusters")).isPositive();
        assertThat(ours).isEqualTo(qemuCheck(img));
    }

    /**
     * 512-byte clusters and nine snapshots with long names: the snapshot table spans several
     * clusters (each entry with its extra data and names is ~100 bytes), every one of them must be
     * counted as referenced, and a refcount-1 data cluster shared by nine L1 tables is a corruption.
     */
    @Test
    void aSnapshotTableOverSeveralClustersIsCountedAsQemuCountsIt() {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("snaps.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img.toString(), "256k");
        QemuTools.io(img, "qcow2", "write -P 1 0 4k", "write -P 2 100k 1k");
        for (int i = 0; i < 9; i++) {
            run("qemu-img", "snapshot", "-c", "snapshot-with-a-long-name-" + i, img.toString());
            QemuTools.io(img, "qcow2", "write -P " + (10 + i) + " " + (i * 512) + " 512");
        }
        Map<String, Long> ours = ourCheck(img);
        assertThat(ours.get("allocated-clusters")).as("premise: data in use").isGreaterThan(9);
        assertThat(ours).isEqualTo(qemuCheck(img));
    }

    /** One cluster appended to the file with refcount 1 and no reference: one leak, for both. */
    @Test
    void aLeakedClusterIsOneLeak() throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("leak.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img.toString(), "1M");
        QemuTools.io(img, "qcow2", "write -P 1 0 4k");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long cluster = f.length() / 4096;
            f.setLength(f.length() + 4096);
            f.seek(refcountEntry(f, cluster));
            f.writeShort(1);
        }
        Map<String, Long> ours = ourCheck(img);
        assertThat(ours.get("leaks")).isEqualTo(1);
        assertThat(ours).isEqualTo(qemuCheck(img));
    }

    /** A data cluster whose refcount is set to 0 while the L2 table still references it: corruption, for both. */
    @Test
    void aRefcountBelowItsReferencesIsACorruption() throws IOException {
        QemuTools.assumeAvailable();
        Path img = twoClustersWritten(tmp.resolve("bad.qcow2"));
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long lastCluster = f.length() / 4096 - 1; // the data cluster written last
            f.seek(refcountEntry(f, lastCluster));
            f.writeShort(0);
        }
        Map<String, Long> ours = ourCheck(img);
        assertThat(ours.get("corruptions")).isPositive();
        assertThat(ours).isEqualTo(qemuCheck(img));
    }

    /**
     * One metadata field damaged on purpose in a qemu-made image (4 KiB clusters, data in guest
     * clusters 0 and 2): an L1 entry or the first L2 entry gets {@code xor} applied (COPIED flag
     * cleared, reserved bits set, an offset moved off the cluster boundary or past the end of the
     * file), or the refcount of the first data cluster is raised to 2. Every count both checkers
     * report must be the same, corruptions and leaks included.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "L1 entry without COPIED,             l1, 0x8000000000000000",
            "L1 entry with a reserved bit,        l1, 0x0000000000000100",
            "L2 table off the cluster boundary,   l1, 0x0000000000000200",
            "L2 table past the end of the file,   l1, 0x0000000040000000",
            "data cluster without COPIED,         l2, 0x8000000000000000",
            "data cluster off the cluster boundary, l2, 0x0000000000000200",
            "data cluster past the end of the file, l2, 0x0000000040000000",
            "data cluster with refcount 2,        refcount, 2",
    })
    void damagedMetadataIsCountedAsQemuCountsIt(String what, String field, String value) throws IOException {
        QemuTools.assumeAvailable();
        Path img = twoClustersWritten(tmp.resolve("damaged.qcow2"));
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(40);
            long l1 = f.readLong();
            f.seek(l1);
            long l2 = f.readLong() & 0x00fffffffffffe00L;
            f.seek(l2);
            long data = f.readLong() & 0x00fffffffffffe00L;
            long at = switch (field) {
                case "l1" -> l1;
                case "l2" -> l2;
                default -> refcountEntry(f, data / 4096);
            };
            f.seek(at);
            if (field.equals("refcount")) {
                f.writeShort(Integer.parseInt(value));
            } else {
                long old = f.readLong();
                f.seek(at);
                f.writeLong(old ^ Long.parseUnsignedLong(value.substring(2), 16));
            }
        }
        Map<String, Long> theirs = qemuCheck(img);
        assertThat(theirs.get("corruptions") + theirs.get("leaks")).as("premise: QEMU sees the damage").isPositive();
        assertThat(ourCheck(img)).isEqualTo(theirs);
    }

    /** File offset of the 16-bit refcount of {@code cluster} (4 KiB clusters, first refcount block). */
    private static long refcountEntry(RandomAccessFile f, long cluster) throws IOException {
        f.seek(48);
        long table = f.readLong();
        f.seek(table);
        long block = f.readLong();
        assertThat(cluster).isLessThan(2048);
        return block + 2 * cluster;
    }
}
