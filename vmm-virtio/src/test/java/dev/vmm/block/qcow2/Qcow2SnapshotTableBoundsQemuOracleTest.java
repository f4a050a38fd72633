package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The snapshot table's bounds ({@link Qcow2Snapshots#read}): a qemu-made image with two snapshots
 * whose table is the last thing in the file, the file then cut at the end of the last entry's
 * bytes, or some bytes before it, or a snapshot's L1 size patched. Our refusals here are stricter
 * than QEMU on purpose (QEMU reads past the end of the file as zeroes, see
 * {@code Qcow2HeaderQemuOracleTest}, and checks a snapshot's L1 size only when the snapshot is
 * used): {@code qemu-img info} (at test time) must accept every row, and we must refuse the
 * marked ones with one line that says why. Where we accept, every snapshot is listed with the names and sizes QEMU lists.
 */
@Timeout(60)
class Qcow2SnapshotTableBoundsQemuOracleTest {
    @TempDir Path tmp;

    /** {@code cut}: bytes removed from the end of the last entry (-1: the file left as it is); {@code l1Size}: patched into entry 1 (-1: kept). */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "table as written                      | -1 | -1 | accepted",
            "file ends with the last entry         | 0  | -1 | accepted",
            "file ends 1 byte before the last name | 1  | -1 | past the end",
            "file ends inside the last entry's fixed part | 40 | -1 | past the end",
            "snapshot L1 of 32 MiB (the cap), past the end | -1 | 4194304 | past the end",
            "snapshot L1 past the 32 MiB cap       | -1 | 4194305 | L1 table is too large",
            "snapshot L1 size 0                    | -1 | 0  | accepted",
    })
    void theTableMustLieInTheFile(String what, int cut, long l1Size, String expect) throws IOException {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("t.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", img.toString(), "1M");
        QemuTools.io(img, "qcow2", "write -P 1 0 8k");
        run("qemu-img", "snapshot", "-c", "first", img.toString());
        run("qemu-img", "snapshot", "-c", "second-snapshot", img.toString());
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(64);
            long table = f.readLong(), last = table, end = table;
            for (int i = 0; i < 2; i++) {
                last = end;
                f.seek(end + 12);
                int idLen = f.readUnsignedShort(), nameLen = f.readUnsignedShort();
                f.seek(end + 36);
                long extra = f.readInt() & 0xffffffffL;
                end = end + 40 + extra + idLen + nameLen;
                if (i == 0) end = (end + 7) & ~7L;
            }
            assertThat(f.length()).as("premise: the table is the last thing in the file").isLessThanOrEqualTo((end + 4095) & ~4095L);
            if (cut >= 0) f.setLength(end - cut);
            if (l1Size >= 0) {
                f.seek(last + 8);
                f.writeInt((int) l1Size);
            }
        }
        QemuTools.Result q = QemuTools.exec("qemu-img", "info", "-U", "--output=json", img.toString());
        String error = null;
        List<dev.vmm.block.ImageInfo.Snapshot> ours = null;
        try (ImageFile f = ImageFile.open(img, true, false)) {
            ours = Qcow2Snapshots.read(f, Qcow2Header.read(f)).stream().map(Qcow2Snapshots.Entry::info).toList();
        } catch (ImageFormatException e) {
            error = e.getMessage();
        }
        assertThat(q.exit()).as("%s: qemu-img info accepts it: %s", what, q.err()).isZero();
        if (!expect.equals("accepted")) {
            assertThat(error).as(what).isNotNull().contains(expect).doesNotContain("\n");
            return;
        }
        assertThat(error).as(what).isNull();
        assertThat(ours).extracting(dev.vmm.block.ImageInfo.Snapshot::name).containsExactly("first", "second-snapshot");
        for (var s : ours) {
            assertThat(q.out()).contains("\"name\": \"" + s.name() + "\"", "\"id\": \"" + s.id() + "\"");
        }
    }
}
