package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An image that outgrows its first refcount table and its L2 table cache: 512-byte clusters with
 * 64-bit refcounts (64 refcounts per block, so one table cluster covers only 2 MiB of file) and one
 * write per L2 table over 320 MiB (10240 L2 tables, more than the cache's 8192: dirty tables are
 * evicted). Checked by QEMU at test time: {@code qemu-img check} finds it clean and
 * {@code qemu-img compare} finds it equal to a raw file holding what was written. With lazy
 * refcounts the image is flushed and dropped without a close, then reopened, which rebuilds the refcounts.
 */
@Timeout(180)
class Qcow2GrowthQemuOracleTest {
    private static final long SIZE = 320L << 20, STRIDE = 32 << 10;
    @TempDir Path tmp;

    @ParameterizedTest(name = "lazy refcounts {0}")
    @ValueSource(booleans = {false, true})
    void outgrowingTheRefcountTableAndTheL2CacheLeavesAnImageQemuFindsCleanAndEqual(boolean lazy) throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("g.qcow2"), model = tmp.resolve("g.raw");
        Qcow2Creator.create(img, SIZE, new Qcow2Creator.Options(3, 512, lazy, 64, null, null));
        long initialRefcountTable;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(56);
            initialRefcountTable = f.readInt();
        }
        Random r = new Random(7);
        byte[] sector = new byte[512];
        try (RandomAccessFile raw = new RandomAccessFile(model.toFile(), "rw")) {
            raw.setLength(SIZE);
            Qcow2Image d = (Qcow2Image) Images.open(img, Images.Options.readWriteDefaults());
            // backwards, so that host clusters are not in guest order
            for (long off = SIZE - STRIDE; off >= 0; off -= STRIDE) {
                long at = off + 512L * r.nextInt((int) (STRIDE / 512));
                Arrays.fill(sector, (byte) (1 + r.nextInt(255)));
                d.write(at, MemorySegment.ofArray(sector));
                raw.seek(at);
                raw.write(sector);
            }
            if (lazy) {
                // flushed (the data and L2 tables are durable) but not closed: with lazy refcounts the
                // refcounts on disk are stale and the dirty bit is set, so the reopen rebuilds them
                d.flush();
                d.abandon();
                try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
                    f.seek(72);
                    assertThat(f.readLong() & Qcow2Header.INCOMPAT_DIRTY).as("dirty bit left set").isNotZero();
                }
                try (BlockDevice reopened = Images.open(img, Images.Options.readWriteDefaults())) {
                    assertThat(reopened.size()).isEqualTo(SIZE);
                }
            } else {
                d.close();
            }
        }
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(56);
            assertThat(f.readInt()).as("refcount table clusters after growth").isGreaterThan((int) initialRefcountTable);
        }
        QemuTools.Result check = QemuTools.exec("qemu-img", "check", img.toString());
        assertThat(check.exit()).as("qemu-img check: %s%s", check.out(), check.err()).isZero();
        QemuTools.Result cmp = QemuTools.exec("qemu-img", "compare", "-f", "raw", "-F", "qcow2", model.toString(), img.toString());
        assertThat(cmp.exit()).as("qemu-img compare: %s%s", cmp.out(), cmp.err()).isZero();
        try (Qcow2Image d = (Qcow2Image) Images.open(img, Images.Options.readOnlyDefaults())) {
            Qcow2Checker.Result ours = d.check();
            assertThat(ours.corruptions()).isZero();
            assertThat(ours.leaks()).isZero();
        }
    }
}
