package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Repair of an image left dirty by a crash with lazy refcounts ({@code qemu-io ... -c abort}: the
 * refcounts on disk are stale, the dirty bit is set). Opening it for writing rebuilds every
 * refcount from the references ({@link Qcow2Checker#rebuildRefcounts}). The oracle, run at test
 * time on the same crashed file: {@code qemu-img check} must call the damage real before, and call
 * our repaired image clean after (with every count equal to our own checker's), and
 * {@code qemu-img compare} must find our repaired image's contents identical to those of a copy
 * repaired by {@code qemu-img check -r all}.
 */
@Timeout(120)
class Qcow2CheckerRepairQemuOracleTest {
    @TempDir Path tmp;

    /**
     * {@code options} for qemu-img create (lazy refcounts added), qemu-io commands separated by
     * {@code ;} before the crash; {@code snapshot} takes an internal snapshot after the first of
     * them (so that the later writes copy shared clusters); {@code leak} appends one cluster with
     * refcount 1 and no reference to the crashed file (16-bit refcounts only).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "4 KiB clusters            | cluster_size=4096                   | write -P 1 0 64k;write -P 2 1M 8k;write -z 0 4k | false | false",
            "COW after a snapshot      | cluster_size=4096                   | write -P 1 0 64k;write -P 3 0 4k;write -P 4 2M 4k;write -P 5 40k 8k | true | false",
            "512 B clusters, 1 MiB     | cluster_size=512                    | write -P 1 0 1M;write -P 2 3M 4k | false | false",
            "1-bit refcounts           | cluster_size=4096,refcount_bits=1   | write -P 1 0 64k;write -P 2 3M 12k | false | false",
            "8-bit refcounts, snapshot | cluster_size=4096,refcount_bits=8   | write -P 1 0 16k;write -P 2 4k 4k;write -P 3 1M 4k | true | false",
            "64-bit refcounts          | cluster_size=65536,refcount_bits=64 | write -P 1 0 192k;write -P 2 2M 64k | false | false",
            "compressed clusters       | cluster_size=4096                   | write -P 9 64k 4k;write -c -P 7 0 4k;write -c -P 8 8k 4k | false | false",
            "a leaked cluster as well  | cluster_size=4096                   | write -P 1 0 64k;write -P 2 1M 8k | false | true",
    })
    void aCrashedLazyImageIsRepairedAsQemuRepairsIt(String what, String options, String commands, boolean snapshot, boolean leak)
            throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("crashed.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options + ",lazy_refcounts=on", img.toString(), "4M");
        List<String> io = new ArrayList<>(List.of(commands.split(";")));
        if (snapshot) {
            QemuTools.io(img, "qcow2", io.remove(0));
            run("qemu-img", "snapshot", "-c", "s1", img.toString());
        }
        crash(img, io);
        if (leak) appendLeakedCluster(img);
        assertThat(header(img).dirty()).as("premise: the crash left the dirty bit set").isTrue();
        Map<String, Long> before = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        assertThat(before.get("corruptions") + before.get("leaks")).as("premise: qemu-img check sees stale refcounts").isPositive();
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).as("our check of the crashed image").isEqualTo(before);
        assertThat(Qcow2CheckerQemuOracleTest.assertSameClusterMessages(img)).as("premise: QEMU lists clusters").isPositive();

        Path theirs = tmp.resolve("qemu-repaired.qcow2");
        Files.copy(img, theirs);
        QemuTools.Result r = QemuTools.exec("qemu-img", "check", "-r", "all", theirs.toString());
        assertThat(r.exit()).as("qemu-img check -r all: %s%s", r.out(), r.err()).isZero();

        try (var d = Images.open(img, Images.Options.readWriteDefaults())) {
            assertThat(d.size()).isEqualTo(4L << 20);
        }
        assertThat(header(img).dirty()).as("dirty bit cleared by the repair").isFalse();
        Map<String, Long> after = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        assertThat(after.get("corruptions")).as("%s: qemu-img check after our repair", what).isZero();
        assertThat(after.get("leaks")).as("%s: leaks after our repair", what).isZero();
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).as("our check of the repaired image").isEqualTo(after);
        QemuTools.Result cmp = QemuTools.exec("qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", img.toString(), theirs.toString());
        assertThat(cmp.exit()).as("qemu-img compare with QEMU's repair: %s%s", cmp.out(), cmp.err()).isZero();
    }

    /**
     * A crashed image whose L2 table pointer was moved 1 GiB past the end of the file: QEMU's own
     * repair cannot make it clean (its double check still finds an error), and we refuse to open it
     * for writing with one line that says why, instead of rebuilding refcounts around a reference
     * we cannot count. A read-only open still works (that is how {@code check} reports it).
     */
    @Test
    void aCrashedImageWithAReferencePastTheEndIsRefusedForWriting() throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("past-end.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096,lazy_refcounts=on", img.toString(), "4M");
        crash(img, List.of("write -P 1 0 64k"));
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(40);
            long l1 = f.readLong();
            f.seek(l1);
            long e = f.readLong();
            f.seek(l1);
            f.writeLong(e ^ 0x40000000L);
        }
        Path theirs = tmp.resolve("qemu-repaired.qcow2");
        Files.copy(img, theirs);
        QemuTools.exec("qemu-img", "check", "-r", "all", theirs.toString());
        assertThat(Qcow2CheckerQemuOracleTest.qemuCheck(theirs).get("corruptions")).as("premise: QEMU cannot repair it either").isPositive();

        assertThatThrownBy(() -> Images.open(img, Images.Options.readWriteDefaults()).close())
                .isInstanceOf(ImageFormatException.class).hasMessageContaining("points outside the file")
                .message().doesNotContain("\n");
        assertThat(header(img).dirty()).as("left as it was").isTrue();
        Map<String, Long> ours = Qcow2CheckerQemuOracleTest.ourCheck(img);
        assertThat(ours).isEqualTo(Qcow2CheckerQemuOracleTest.qemuCheck(img));
    }

    /** qemu-io runs the commands and then abort(3)s: nothing is flushed at exit. */
    private static void crash(Path img, List<String> commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String c : commands) { cmd.add("-c"); cmd.add(c); }
        cmd.add("-c");
        cmd.add("abort");
        cmd.add(img.toString());
        QemuTools.Result r = QemuTools.exec(cmd.toArray(String[]::new));
        assertThat(r.exit()).as("qemu-io killed by SIGABRT: %s", r.err()).isEqualTo(128 + 6);
        assertThat(r.out()).doesNotContain("error", "failed");
    }

    private static Qcow2Header header(Path img) {
        try (ImageFile f = ImageFile.open(img, true, false)) {
            return Qcow2Header.read(f);
        }
    }

    /** One more cluster at the end of the file with refcount 1 and nothing pointing at it. */
    private static void appendLeakedCluster(Path img) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long cluster = (f.length() + 4095) / 4096;
            f.setLength((cluster + 1) * 4096);
            f.seek(48);
            f.seek(f.readLong());
            long block = f.readLong();
            assertThat(cluster).isLessThan(2048);
            f.seek(block + 2 * cluster);
            f.writeShort(1);
        }
    }
}
