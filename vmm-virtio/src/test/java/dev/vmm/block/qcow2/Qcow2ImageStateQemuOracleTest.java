package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
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
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The states of a qcow2 image that decide how {@link Qcow2Image} may open and write it, each judged
 * by QEMU on a copy of the same file at test time: the corrupt bit (read-only only), the dirty bit of
 * a lazy-refcounts image that was not closed (refcounts rebuilt on the next read-write open, as
 * {@code qemu-img check -r all} rebuilds them), extended L2 entries (read-only here), and L2 entries
 * that point where no cluster can be (an error for both; ours writes nothing at all).
 */
@Timeout(120)
class Qcow2ImageStateQemuOracleTest {
    private static final int OFF_INCOMPAT_LOW_BYTE = 79;
    @TempDir Path tmp;

    private Path qemuImage(String name, String options, String size, String... ioCommands) {
        Path p = tmp.resolve(name);
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, p.toString(), size);
        if (ioCommands.length > 0) QemuTools.io(p, "qcow2", ioCommands);
        return p;
    }

    private Path copy(Path p, String name) throws IOException {
        return Files.copy(p, tmp.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    private static byte[] ourRead(Path p) {
        try (BlockDevice d = Images.open(p, Images.Options.readOnlyDefaults())) {
            byte[] all = new byte[(int) d.size()];
            d.read(0, MemorySegment.ofArray(all));
            return all;
        }
    }

    private static void setIncompatibleBits(Path p, int bits) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(OFF_INCOMPAT_LOW_BYTE);
            int b = f.read();
            f.seek(OFF_INCOMPAT_LOW_BYTE);
            f.write(b | bits);
        }
    }

    private static int incompatibleLowByte(Path p) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
            f.seek(OFF_INCOMPAT_LOW_BYTE);
            return f.read();
        }
    }

    /** qemu-io's verdict on one command: true when it ran without an error. */
    private static boolean qemuIoSucceeds(Path p, boolean readOnly, String command) {
        QemuTools.Result r = readOnly ? QemuTools.exec("qemu-io", "-r", "-f", "qcow2", "-c", command, p.toString())
                : QemuTools.exec("qemu-io", "-f", "qcow2", "-c", command, p.toString());
        String all = r.out() + r.err();
        return r.exit() == 0 && !all.contains("failed") && !all.contains("rror");
    }

    @Test
    void anImageMarkedCorruptIsReadableButNotWritableAsInQemu() throws IOException {
        QemuTools.assumeAvailable();
        Path img = qemuImage("corrupt.qcow2", "cluster_size=4096", "256k", "write -P 0x21 0 64k", "write -c -P 0x22 64k 8k", "write -z 72k 4k");
        setIncompatibleBits(img, 2);
        Path theirs = copy(img, "theirs.qcow2");
        assertThat(qemuIoSucceeds(theirs, false, "write -P 0x23 0 4k")).as("premise: QEMU refuses to open it read-write").isFalse();
        assertThat(qemuIoSucceeds(theirs, true, "read -P 0x21 0 64k")).as("premise: QEMU reads it read-only").isTrue();
        byte[] before = Files.readAllBytes(img);

        assertThatThrownBy(() -> Images.open(img, Images.Options.readWriteDefaults()))
                .isInstanceOf(ImageFormatException.class).hasMessageContaining("corrupt").hasMessageNotContaining("\n");
        assertThat(Files.readAllBytes(img)).as("the refused open wrote nothing").isEqualTo(before);
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) {
            assertThat(d.readOnly()).isTrue();
            assertThat(d.info().formatSpecific().get("corrupt")).as("info corrupt (qemu-img info: %s)", qemuInfoCorrupt(img)).isEqualTo(qemuInfoCorrupt(img));
            assertThatThrownBy(() -> d.write(0, MemorySegment.ofArray(new byte[512]))).isInstanceOf(BlockException.class);
        }
        assertThat(ourRead(img)).isEqualTo(QemuTools.toRaw(img, tmp));
        assertThat(Files.readAllBytes(img)).as("reading wrote nothing").isEqualTo(before);
    }

    private static boolean qemuInfoCorrupt(Path p) {
        return run("qemu-img", "info", "-U", "--output=json", p.toString()).replace(" ", "").contains("\"corrupt\":true");
    }

    /**
     * QEMU writes with lazy refcounts and dies (qemu-io's abort) after a flush: the dirty bit stays
     * set. Lazy refcounts may then be anything, so the refcounts of every cluster past the first four
     * are zeroed in the file, as if none of their increments had been written. Our read-write open
     * must rebuild them, clear the bit and keep every byte; QEMU's own repair
     * ({@code qemu-img check -r all}) of a second copy is the reference.
     */
    @ParameterizedTest(name = "cluster={0} refcount_bits={1}")
    @CsvSource({"4096, 16", "512, 1", "65536, 64"})
    void aDirtyLazyRefcountsImageIsRepairedOnOpenAsQemuRepairsIt(int cluster, int refcountBits) throws IOException {
        QemuTools.assumeAvailable();
        Path img = qemuImage("dirty.qcow2", "cluster_size=" + cluster + ",refcount_bits=" + refcountBits + ",lazy_refcounts=on", "2M",
                "write -P 0x31 0 64k");
        QemuTools.Result died = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write -P 0x32 1m 300k", "-c", "write -c -P 0x33 1536k 128k",
                "-c", "write -z 32k 16k", "-c", "write -P 0x34 8k 1k", "-c", "flush", "-c", "abort", img.toString());
        assertThat(died.exit()).as("premise: qemu-io aborted").isNotZero();
        assertThat(incompatibleLowByte(img) & 1).as("premise: the dirty bit is set").isEqualTo(1);
        long block = readLong(img, readLong(img, 48)) & Qcow2Image.OFFSET_MASK; // first refcount block
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long from = 4L * refcountBits / 8; // clusters 0-3: header, refcount table and block, L1 table
            f.seek(block + from);
            f.write(new byte[(int) (cluster - from)]);
        }
        QemuTools.Result stale = QemuTools.exec("qemu-img", "check", img.toString());
        assertThat(stale.exit()).as("premise: QEMU finds the refcounts wrong: %s", stale.out()).isNotZero();
        byte[] reference = QemuTools.toRaw(img, tmp);
        assertThat(ourRead(img)).as("a read-only open reads the dirty image as it is").isEqualTo(reference);

        Path theirs = copy(img, "theirs.qcow2");
        run("qemu-img", "check", "-q", "-r", "all", theirs.toString());
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            assertThat(d.info().dirty()).as("dirty after our open").isFalse();
        }
        assertThat(incompatibleLowByte(img) & 1).as("the dirty bit after our open and close").isZero();
        QemuTools.Result check = QemuTools.exec("qemu-img", "check", img.toString());
        assertThat(check.exit()).as("qemu-img check after our repair: %s", check.out()).isZero();
        assertThat(QemuTools.exec("qemu-img", "compare", img.toString(), theirs.toString()).exit()).as("qemu-img compare with QEMU's repair").isZero();
        assertThat(QemuTools.toRaw(img, tmp)).isEqualTo(reference);
    }

    @Test
    void extendedL2ImagesAreReadAsQemuReadsThemAndNeverWritten() throws IOException {
        QemuTools.assumeAvailable();
        Path base = qemuImage("xbase.qcow2", "cluster_size=65536", "1M", "write -P 0x41 0 1m");
        Path img = tmp.resolve("xl2.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536,extended_l2=on", "-b", base.getFileName().toString(), "-F", "qcow2",
                img.toString(), "1M");
        // Subclusters are 2 KiB: data, zeroes and unallocated (backing) ones inside one cluster.
        QemuTools.io(img, "qcow2", "write -P 0x42 2k 2k", "write -z 6k 4k", "write -P 0x43 100000 3000", "write -z -u 200k 64k", "discard 300k 64k");
        byte[] before = Files.readAllBytes(img);
        assertThatThrownBy(() -> Images.open(img, Images.Options.readWriteDefaults()))
                .isInstanceOf(ImageFormatException.class).hasMessageContaining("extended L2");
        assertThat(ourRead(img)).isEqualTo(QemuTools.toRaw(img, tmp));
        assertThat(Files.readAllBytes(img)).as("nothing written").isEqualTo(before);
    }

    /**
     * An L2 entry whose data cluster cannot exist: QEMU refuses to read that cluster (except past the
     * end of the file, which it reads as zeroes); ours fails with one clear line, a partial write
     * (which needs the old data) is refused and writes nothing to the file (QEMU would mark the image
     * corrupt), and the rest of the disk still reads. A write of the whole cluster over an entry that
     * does not point at our own cluster (compressed, or shared) replaces it, as QEMU's does: the
     * storage it named is not ours to free, and later flushes must keep working.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            // QEMU reads a data cluster past the end of the file as zeroes; we refuse it (stricter)
            "data cluster past the end of the file,        0x8000010000000000, invalid offset,   false, false",
            "data cluster not cluster aligned,             0x8000000000000000, invalid offset,   true,  false",
            "shared data cluster past the end of the file, 0x0000010000000000, invalid offset,   false, true",
            "compressed cluster past the end,              0x4000000001000000, outside the file, true,  true"})
    void anL2EntryPointingNowhereIsAnErrorAndNothingIsWritten(String what, String entryBits, String message, boolean qemuRefusesRead,
            boolean wholeClusterWriteReplacesIt) throws IOException {
        QemuTools.assumeAvailable();
        Path img = qemuImage("bad.qcow2", "cluster_size=4096", "256k", "write -P 0x51 0 16k");
        long l1 = readLong(img, 40);
        long l2 = readLong(img, l1) & Qcow2Image.OFFSET_MASK;
        long host = readLong(img, l2 + 8) & Qcow2Image.OFFSET_MASK; // guest cluster 1
        long entry = Long.parseUnsignedLong(entryBits.substring(2), 16);
        if (what.contains("aligned")) entry |= host + 0x200;
        writeLong(img, l2 + 8, entry);
        Path theirs = copy(img, "theirs.qcow2");
        assertThat(qemuIoSucceeds(theirs, true, "read 4k 4k")).as("QEMU reads it").isEqualTo(!qemuRefusesRead);
        byte[] before = Files.readAllBytes(img);

        byte[] whole = new byte[4096];
        Arrays.fill(whole, (byte) 0x61);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            byte[] b = new byte[4096];
            assertThatThrownBy(() -> d.read(4096, MemorySegment.ofArray(b)))
                    .isInstanceOf(ImageFormatException.class).hasMessageContaining(message).hasMessageNotContaining("\n");
            assertThatThrownBy(() -> d.write(4096 + 100, MemorySegment.ofArray(new byte[100]))).isInstanceOf(ImageFormatException.class);
            if (!wholeClusterWriteReplacesIt) {
                assertThatThrownBy(() -> d.write(4096, MemorySegment.ofArray(whole))).isInstanceOf(ImageFormatException.class);
            }
            d.flush();
            d.read(0, MemorySegment.ofArray(b));
            byte[] expect = new byte[4096];
            Arrays.fill(expect, (byte) 0x51);
            assertThat(b).as("the cluster before it").isEqualTo(expect);
        }
        assertThat(Files.readAllBytes(img)).as("nothing written to the file").isEqualTo(before);
        if (!wholeClusterWriteReplacesIt) return;

        QemuTools.Result q = QemuTools.exec("qemu-io", "-f", "qcow2", "-c", "write -P 0x61 4k 4k", theirs.toString());
        assertThat(q.out() + q.err()).as("premise: QEMU's write of the whole cluster").doesNotContain("write failed");
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            d.write(4096, MemorySegment.ofArray(whole));
            d.flush();
            d.write(8192, MemorySegment.ofArray(whole));
            d.flush();
        }
        QemuTools.io(theirs, "qcow2", "write -P 0x61 8k 4k");
        // The cluster the patched entry used to name is leaked in both (the patch dropped its only reference).
        QemuTools.Result check = QemuTools.exec("qemu-img", "check", img.toString()), qemuCheck = QemuTools.exec("qemu-img", "check", theirs.toString());
        assertThat(check.exit()).as("qemu-img check of ours: %s", check.out()).isEqualTo(qemuCheck.exit()).isIn(0, 3);
        assertThat(check.out()).as("qemu-img check of ours vs of QEMU's").contains(qemuCheck.out().lines().findFirst().orElseThrow());
        assertThat(QemuTools.exec("qemu-img", "compare", img.toString(), theirs.toString()).exit()).as("qemu-img compare with QEMU's").isZero();
    }

    private static long readLong(Path p, long off) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
            f.seek(off);
            return f.readLong();
        }
    }

    private static void writeLong(Path p, long off, long v) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(off);
            f.writeLong(v);
        }
    }
}
