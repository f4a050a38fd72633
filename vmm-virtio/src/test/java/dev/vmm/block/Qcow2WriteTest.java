package dev.vmm.block;

import dev.vmm.block.qcow2.Qcow2Creator;
import dev.vmm.block.qcow2.Qcow2Image;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Images we create and write: a raw model says what they must contain; qemu-img checks them. */
class Qcow2WriteTest {
    @TempDir Path tmp;

    /** Random writes, discards and write-zeroes against a byte-array model; returns the model. */
    static byte[] workload(BlockDevice d, byte[] model, long seed, int ops, long clusterSize) {
        Random r = new Random(seed);
        int size = model.length;
        for (int i = 0; i < ops; i++) {
            int kind = r.nextInt(10);
            int len = r.nextInt(4) == 0 ? 1 + r.nextInt((int) Math.min(size, 4 * clusterSize + 1000)) : 1 + r.nextInt(9000);
            len = Math.min(len, size);
            int off = r.nextInt(size - len + 1);
            if (r.nextBoolean()) off &= ~511; // mostly sector aligned, like a guest
            if (kind < 6) {
                byte[] data = new byte[len];
                r.nextBytes(data);
                d.write(off, MemorySegment.ofArray(data));
                System.arraycopy(data, 0, model, off, len);
            } else if (kind < 8) {
                d.writeZeroes(off, len, r.nextBoolean());
                Arrays.fill(model, off, off + len, (byte) 0);
            } else {
                // Discard releases whole clusters only (they then read as zeroes); partial ones keep their data.
                d.discard(off, len);
                long first = (off + clusterSize - 1) / clusterSize * clusterSize;
                long end = off + len == size ? (off + len + clusterSize - 1) / clusterSize * clusterSize : (off + len) / clusterSize * clusterSize;
                for (long c = first; c < end; c += clusterSize) Arrays.fill(model, (int) c, (int) Math.min(size, c + clusterSize), (byte) 0);
            }
            if (r.nextInt(20) == 0) d.flush();
            if (r.nextInt(15) == 0) {
                int roff = r.nextInt(size);
                byte[] back = new byte[Math.min(size - roff, 1 + r.nextInt(70000))];
                d.read(roff, MemorySegment.ofArray(back));
                assertThat(back).as("read-back at op " + i).isEqualTo(Arrays.copyOfRange(model, roff, roff + back.length));
            }
        }
        return model;
    }

    static void assertContents(BlockDevice d, byte[] model) {
        byte[] all = new byte[model.length];
        d.read(0, MemorySegment.ofArray(all));
        assertThat(Arrays.mismatch(all, model)).isEqualTo(-1);
    }

    static void assertQemuCheckClean(Path img) {
        QemuTools.Result r = QemuTools.exec("qemu-img", "check", img.toString());
        assertThat(r.exit()).as("qemu-img check:\n" + r.out() + r.err()).isZero();
    }

    @ParameterizedTest
    @CsvSource({"3,512,16", "3,65536,16", "3,2097152,16", "2,512,16", "2,65536,16", "3,4096,1", "3,4096,8", "3,1024,64", "3,512,64", "3,65536,32"})
    void randomWorkloadMatchesModelAndQemuAgrees(int version, long clusterSize, int refcountBits) throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("w.qcow2");
        int size = 3 << 20;
        Qcow2Creator.create(img, size, new Qcow2Creator.Options(version, clusterSize, false, refcountBits, null, null));
        assertQemuCheckClean(img);
        byte[] model = new byte[size];
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            assertThat(d).isInstanceOf(Qcow2Image.class);
            workload(d, model, clusterSize * 31 + version, 300, clusterSize);
            assertContents(d, model);
        }
        assertQemuCheckClean(img);
        Path raw = tmp.resolve("model.raw");
        Files.write(raw, model);
        run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), raw.toString());
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) {
            assertContents(d, model);
        }
    }

    @Test
    void writesOverBackingChainCopyOnWrite() throws IOException {
        QemuTools.assumeAvailable();
        Path base = tmp.resolve("base.qcow2"), top = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), "2M");
        QemuTools.io(base, "qcow2", "write -P 0x5a 0 2m");
        Qcow2Creator.create(top, 2 << 20, Qcow2Creator.Options.defaults().withBacking("base.qcow2", "qcow2"));
        byte[] model = new byte[2 << 20];
        Arrays.fill(model, (byte) 0x5a);
        try (BlockDevice d = Images.open(top, Images.Options.readWriteDefaults())) {
            workload(d, model, 7, 200, 65536);
            assertContents(d, model);
        }
        assertQemuCheckClean(top);
        Path raw = tmp.resolve("model.raw");
        Files.write(raw, model);
        run("qemu-img", "compare", "-F", "raw", top.toString(), raw.toString());
        assertThat(QemuTools.toRaw(top, tmp)).isEqualTo(model);
    }

    @Test
    void writesToQemuMadeCompressedAndSnapshottedImage() throws IOException {
        QemuTools.assumeAvailable();
        Path raw = tmp.resolve("src.raw"), img = tmp.resolve("c.qcow2");
        run("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "2M");
        QemuTools.io(raw, "raw", "write -P 0x42 0 2m");
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096", raw.toString(), img.toString());
        run("qemu-img", "snapshot", "-c", "snap1", img.toString());
        byte[] model = Files.readAllBytes(raw);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            assertThat(d.info().snapshots()).extracting(ImageInfo.Snapshot::name).containsExactly("snap1");
            workload(d, model, 99, 200, 4096);
            assertContents(d, model);
        }
        assertQemuCheckClean(img);
        assertThat(QemuTools.toRaw(img, tmp)).isEqualTo(model);
        // The snapshot still holds the original contents.
        Path snap = tmp.resolve("snap.raw");
        run("qemu-img", "convert", "-l", "snap1", "-O", "raw", img.toString(), snap.toString());
        assertThat(Files.readAllBytes(snap)).isEqualTo(Files.readAllBytes(raw));
    }

    @Test
    void lazyRefcountsSetDirtyBitAndCloseCleanly() throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("lazy.qcow2");
        Qcow2Creator.create(img, 1 << 20, new Qcow2Creator.Options(3, 4096, true, 16, null, null));
        byte[] model = new byte[1 << 20];
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            workload(d, model, 3, 100, 4096);
            d.flush();
            try (ImageFile f = ImageFile.open(img, true, false)) {
                assertThat(f.readBytes(72, 8)[7] & 1).as("dirty bit while open").isEqualTo(1);
            }
        }
        try (ImageFile f = ImageFile.open(img, true, false)) {
            assertThat(f.readBytes(72, 8)[7] & 1).as("dirty bit after close").isZero();
        }
        assertQemuCheckClean(img);
        assertThat(QemuTools.toRaw(img, tmp)).isEqualTo(model);
    }

    @Test
    void secondWriterIsLockedOut() {
        Path img = tmp.resolve("locked.qcow2");
        Qcow2Creator.create(img, 1 << 20, Qcow2Creator.Options.defaults());
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            // OFD locks conflict between open file descriptions, even in one process.
            assertThatThrownBy(() -> Images.open(img, Images.Options.readWriteDefaults()))
                    .isInstanceOf(BlockException.class).hasMessageContaining("in use");
            assertThatThrownBy(() -> Images.open(img, Images.Options.readOnlyDefaults()))
                    .isInstanceOf(BlockException.class).hasMessageContaining("in use");
        }
        try (BlockDevice a = Images.open(img, Images.Options.readOnlyDefaults());
             BlockDevice b = Images.open(img, Images.Options.readOnlyDefaults())) {
            assertThat(a.size()).isEqualTo(b.size());
        }
    }

    @Test
    void discardPunchesHolesAndDropsRefcounts() throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("d.qcow2");
        Qcow2Creator.create(img, 8 << 20, Qcow2Creator.Options.defaults());
        byte[] data = new byte[8 << 20];
        new Random(5).nextBytes(data);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            d.write(0, MemorySegment.ofArray(data));
            d.flush();
        }
        long before;
        try (ImageFile f = ImageFile.open(img, true, false)) { before = f.allocatedBytes(); }
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            d.discard(0, 6 << 20);
            byte[] z = new byte[6 << 20];
            d.read(0, MemorySegment.ofArray(z));
            assertThat(z).containsOnly(0);
        }
        try (ImageFile f = ImageFile.open(img, true, false)) {
            assertThat(f.allocatedBytes()).isLessThan(before - (5 << 20));
        }
        assertQemuCheckClean(img);
        // The freed clusters are reused by later allocations instead of growing the file.
        long fileSize = Files.size(img);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            d.write(0, MemorySegment.ofArray(Arrays.copyOf(data, 4 << 20)));
        }
        assertThat(Files.size(img)).isEqualTo(fileSize);
        assertQemuCheckClean(img);
    }
}
