package dev.vmm.block.qcow2;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.ImageInfo;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The internal snapshot table as {@code qemu-img info} lists it (QEMU 7.2 run here is the oracle):
 * several snapshots whose names have different lengths (so the 8-byte padding between entries
 * matters), one with a VM clock and a VM state size patched in (qemu-img snapshot writes zero
 * there; the state size goes in the 64-bit field of the extra data, past 4 GiB), each field of each
 * entry compared.
 */
@Timeout(120)
class Qcow2SnapshotListQemuOracleTest {
    @TempDir Path tmp;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable();
    }

    private Path imageWithSnapshots(String... names) {
        Path img = tmp.resolve("s.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "8M");
        QemuTools.io(img, "qcow2", "write -P 0x5a 1m 64k");
        for (String n : names) run("qemu-img", "snapshot", "-c", n, img.toString());
        return img;
    }

    /** File offset of snapshot entry {@code index} (the table walked as the qcow2 spec lays it out). */
    private static long entryOffset(RandomAccessFile f, int index) throws IOException {
        f.seek(64);
        long off = f.readLong();
        for (int i = 0; i < index; i++) {
            f.seek(off + 12);
            int idLen = f.readUnsignedShort(), nameLen = f.readUnsignedShort();
            f.seek(off + 36);
            long extra = f.readInt() & 0xffffffffL;
            off += (40 + extra + idLen + nameLen + 7) & ~7L;
        }
        return off;
    }

    @Test
    void everyFieldOfEverySnapshotIsListedAsQemuListsIt() throws IOException {
        Path img = imageWithSnapshots("a", "fifth", "thirteen-char");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long e = entryOffset(f, 1);
            f.seek(e + 36);
            assertThat(f.readInt()).as("premise: qemu-img writes the 64-bit state size in the extra data").isGreaterThanOrEqualTo(8);
            f.seek(e + 24);
            f.writeLong(3_000_000_123L);          // vm_clock_nsec: 3 s and 123 ns
            f.writeInt(0x1000);                   // vm_state_size (32-bit field, superseded by the extra data)
            f.seek(e + 40);
            f.writeLong(5L << 30 | 0x200);        // vm_state_size_large
        }
        List<String> qemu = snapshotObjects(run("qemu-img", "info", "--output=json", img.toString()));
        assertThat(qemu).hasSize(3);
        try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) {
            List<ImageInfo.Snapshot> ours = d.info().snapshots();
            assertThat(ours).hasSize(3);
            for (int i = 0; i < 3; i++) {
                String q = qemu.get(i);
                ImageInfo.Snapshot s = ours.get(i);
                assertThat(s.id()).as("id %d", i).isEqualTo(string(q, "id"));
                assertThat(s.name()).as("name %d", i).isEqualTo(string(q, "name"));
                assertThat(s.vmStateSize()).as("vm-state-size %d", i).isEqualTo(number(q, "vm-state-size"));
                assertThat(s.dateSeconds()).as("date-sec %d", i).isEqualTo(number(q, "date-sec"));
                assertThat(s.dateNanos()).as("date-nsec %d", i).isEqualTo(number(q, "date-nsec"));
                assertThat(s.vmClockNanos()).as("vm clock %d", i)
                        .isEqualTo(number(q, "vm-clock-sec") * 1_000_000_000L + number(q, "vm-clock-nsec"));
                assertThat(s.diskSize()).as("disk size %d", i).isEqualTo(d.size());
            }
            assertThat(ours.get(1).vmClockNanos()).as("premise: the patched clock is listed").isNotZero();
        }
    }

    /**
     * The entry's extra data rewritten with {@code extra} bytes (0..1025; the 64-bit VM state size
     * in its first 8 bytes when it has them, the disk size in the next 8, icount -1 after that),
     * the 32-bit VM state size set apart from the 64-bit one: we open the image exactly when
     * {@code qemu-img info} does, and list the VM state size it lists (the 32-bit field below
     * 8 bytes of extra data), and the disk size QEMU gives the image when it applies the snapshot.
     */
    @ParameterizedTest(name = "extra data of {0} bytes")
    @ValueSource(ints = {0, 7, 8, 15, 16, 24, 1024, 1025})
    void extraDataOfEveryLengthIsReadAsQemuReadsIt(int extra) throws IOException {
        Path img = imageWithSnapshots("snap-a");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long e = entryOffset(f, 0);
            f.seek(e + 12);
            int idLen = f.readUnsignedShort(), nameLen = f.readUnsignedShort();
            f.seek(e + 36);
            int oldExtra = f.readInt();
            byte[] names = new byte[idLen + nameLen];
            f.seek(e + 40 + oldExtra);
            f.readFully(names);
            ByteBuffer x = ByteBuffer.allocate(extra);
            if (extra >= 8) x.putLong(0, 7L << 32 | 0x1200);
            if (extra >= 16) x.putLong(8, 4L << 20); // the disk size: half the image's
            if (extra >= 24) x.putLong(16, -1);
            f.seek(e + 32);
            f.writeInt(0x3400);
            f.writeInt(extra);
            f.write(x.array());
            f.write(names);
        }
        QemuTools.Result q = QemuTools.exec("qemu-img", "info", "--output=json", img.toString());
        BlockDevice d;
        try {
            d = Images.open(img, Images.Options.readOnlyDefaults());
        } catch (ImageFormatException e) {
            assertThat(q.exit()).as("QEMU opens what we refuse (%s)", e.getMessage()).isNotZero();
            assertThat(e.getMessage()).contains("extra data");
            return;
        }
        try (d) {
            assertThat(q.exit()).as("QEMU refuses what we open: %s", q.err()).isZero();
            List<String> qemu = snapshotObjects(q.out());
            ImageInfo.Snapshot s = d.info().snapshots().getFirst();
            assertThat(s.vmStateSize()).as("vm-state-size").isEqualTo(number(qemu.getFirst(), "vm-state-size"));
            assertThat(s.name()).isEqualTo(string(qemu.getFirst(), "name")).isEqualTo("snap-a");
            assertThat(s.id()).isEqualTo(string(qemu.getFirst(), "id"));
            // QEMU shows a snapshot's disk size only by applying it: the image takes that size
            Path applied = tmp.resolve("applied.qcow2");
            java.nio.file.Files.copy(img, applied);
            run("qemu-img", "snapshot", "-a", "snap-a", applied.toString());
            assertThat(s.diskSize()).as("disk size").isEqualTo(number(run("qemu-img", "info", "--output=json", applied.toString()), "virtual-size"));
        }
    }

    private static List<String> snapshotObjects(String json) {
        int start = json.indexOf("\"snapshots\"");
        assertThat(start).as("snapshots in qemu-img info").isNotNegative();
        String list = json.substring(json.indexOf('[', start), json.indexOf(']', start));
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("\\{[^{}]*\\}").matcher(list);
        while (m.find()) out.add(m.group());
        return out;
    }

    private static long number(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\": (\\d+)").matcher(json);
        assertThat(m.find()).as(key).isTrue();
        return Long.parseLong(m.group(1));
    }

    private static String string(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\": \"([^\"]*)\"").matcher(json);
        assertThat(m.find()).as(key).isTrue();
        return m.group(1);
    }
}
