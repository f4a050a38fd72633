package dev.vmm.block.qcow2;

import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Map;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Qcow2Checker} on metadata that overlaps other metadata, shared clusters, refcounts of
 * metadata clusters set wrong, zero and compressed entries with wrong flags, and the corrupt bit:
 * one field of a qemu-made image (4 KiB clusters, 1 MiB, data in guest clusters 0 and 2; guest
 * cluster 1 unallocated) set on purpose, then every count compared with
 * {@code qemu-img check --output=json} run at test time on the same file. A block placed over
 * another table and a compressed cluster are counted as qemu-img check counts them.
 */
@Timeout(120)
class Qcow2CheckerDamageQemuOracleTest {
    @TempDir Path tmp;

    /**
     * {@code field}: {@code l1} (entry 0), {@code l2.N} (entry N of the first L2 table),
     * {@code refcount.X} (the 16-bit refcount of cluster X) or {@code incompatible}; {@code value}:
     * terms added together: a hex number, or the offset of {@code @l1} (L1 table), {@code @rt}
     * (refcount table), {@code @rb} (first refcount block), {@code @l2} (first L2 table),
     * {@code @d0} (guest cluster 0's data), {@code @hdr} (0: the header cluster).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "two L2 entries share a data cluster      | l2.1          | 0x8000000000000000 + @d0",
            "data cluster over the L1 table           | l2.1          | 0x8000000000000000 + @l1",
            "data cluster over the refcount table     | l2.1          | 0x8000000000000000 + @rt",
            "data cluster over the refcount block     | l2.1          | 0x8000000000000000 + @rb",
            "data cluster over its own L2 table       | l2.1          | 0x8000000000000000 + @l2",
            "data cluster at 512, inside the header   | l2.1          | 0x8000000000000200",
            "L2 table over the refcount block         | l1            | 0x8000000000000000 + @rb",
            "L2 table over the L1 table               | l1            | 0x8000000000000000 + @l1",
            "L2 table over the header                 | l1            | 0x8000000000000000 + 0x200",
            "zero flag on an allocated cluster (valid) | l2.0          | 0x8000000000000001 + @d0",
            "zero flag, allocation kept, no COPIED    | l2.0          | 0x0000000000000001 + @d0",
            "zero entry with reserved bits            | l2.1          | 0x0000000000000101",
            "compressed entry past the end of the file | l2.1         | 0x4000000010000000",
            "compressed entry with COPIED             | l2.1          | 0xc000000000000000 + @d0",
            "compressed entry over the L1 table       | l2.1          | 0x4000000000000000 + @l1",
            "refcount of the L2 table 0               | refcount.@l2  | 0",
            "refcount of the L2 table 2               | refcount.@l2  | 2",
            "refcount of the refcount block 0         | refcount.@rb  | 0",
            "refcount of the refcount table 0         | refcount.@rt  | 0",
            "refcount of the L1 table 3               | refcount.@l1  | 3",
            "refcount of the header 0                 | refcount.@hdr | 0",
            "refcount of the header 2                 | refcount.@hdr | 2",
            "refcount of a cluster past the end (not checked) | refcount.0x100000 | 1",
            "the corrupt bit (not counted)            | incompatible  | 2",
    })
    void damagedMetadataIsCountedAsQemuCountsIt(String what, String field, String value) throws IOException {
        QemuTools.assumeAvailable();
        Path img = Qcow2CheckerQemuOracleTest.twoClustersWritten(tmp.resolve("damaged.qcow2"));
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            Layout l = Layout.of(f);
            long at = switch (field.split("\\.")[0]) {
                case "l1" -> l.l1;
                case "l2" -> l.l2 + 8L * Integer.parseInt(field.substring(3));
                case "refcount" -> l.rb + 2 * (l.resolve(field.substring("refcount.".length())) / 4096);
                default -> 72;
            };
            f.seek(at);
            if (field.startsWith("refcount")) f.writeShort((int) l.resolve(value));
            else f.writeLong(l.resolve(value));
        }
        Map<String, Long> theirs = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        if (!what.contains("(")) { // the rows marked (valid), (not checked), (not counted) are no damage for qemu-img check
            assertThat(theirs.get("corruptions") + theirs.get("leaks")).as("premise: QEMU sees the damage").isPositive();
        }
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).as(what).isEqualTo(theirs);
        Qcow2CheckerQemuOracleTest.assertSameClusterMessages(img);
    }

    /**
     * The same with an internal snapshot (taken after the two writes, then guest cluster 0
     * rewritten: shared and copied clusters): {@code sl1} is the snapshot's L1 entry 0,
     * {@code st} the snapshot table entry's L1 table offset, {@code refcount.@st}/{@code @sl1}
     * the refcounts of the snapshot table and of the snapshot's L1 table; {@code @s...} values
     * name them too.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "snapshot L1 entry with a reserved bit     | sl1 | ^0x0000000000000100",
            "snapshot L1 entry off the cluster boundary | sl1 | ^0x0000000000000200",
            "snapshot L1 entry past the end of the file | sl1 | ^0x0000000040000000",
            "snapshot L1 entry with COPIED (not checked) | sl1 | ^0x8000000000000000",
            "snapshot L1 table is the active one       | st  | =@l1",
            "snapshot L1 table past the end of the file (refused at open) | st | =0x40000000",
            "refcount of the snapshot table 0          | refcount.@st  | =0",
            "refcount of the snapshot L1 table 0       | refcount.@sl1 | =0",
            "refcount of the snapshot L1 table 2       | refcount.@sl1 | =2",
    })
    void damagedSnapshotMetadataIsCountedAsQemuCountsIt(String what, String field, String value) throws IOException {
        QemuTools.assumeAvailable();
        Path img = Qcow2CheckerQemuOracleTest.twoClustersWritten(tmp.resolve("snap.qcow2"));
        run("qemu-img", "snapshot", "-c", "s1", img.toString());
        QemuTools.io(img, "qcow2", "write -P 3 0 4k");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            Layout l = Layout.of(f);
            long st = readLong(f, 64), sl1 = readLong(f, st);
            String v = value.substring(1).replace("@st", Long.toString(st)).replace("@sl1", Long.toString(sl1));
            long at = switch (field) {
                case "sl1" -> sl1;
                case "st" -> st;
                default -> l.rb + 2 * (l.resolve(field.substring("refcount.".length()).replace("@st", Long.toString(st))
                        .replace("@sl1", Long.toString(sl1))) / 4096);
            };
            long newValue = value.startsWith("^") ? readLong(f, at) ^ l.resolve(v) : l.resolve(v);
            f.seek(at);
            if (field.startsWith("refcount")) f.writeShort((int) newValue);
            else f.writeLong(newValue);
        }
        Map<String, Long> theirs = Qcow2CheckerQemuOracleTest.qemuCheck(img);
        if (what.contains("(refused at open)")) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Qcow2CheckerQemuOracleTest.ourCheck(img))
                    .isInstanceOf(dev.vmm.block.ImageFormatException.class).hasMessageContaining("snapshot L1 table");
            return;
        }
        if (!what.contains("(")) {
            assertThat(theirs.get("corruptions") + theirs.get("leaks")).as("premise: QEMU sees the damage").isPositive();
        }
        assertThat(Qcow2CheckerQemuOracleTest.ourCheck(img)).as(what).isEqualTo(theirs);
        Qcow2CheckerQemuOracleTest.assertSameClusterMessages(img);
    }

    /** The offsets of the qemu-made image's metadata, read from it. */
    private record Layout(long l1, long rt, long rb, long l2, long d0) {
        static Layout of(RandomAccessFile f) throws IOException {
            long l1 = readLong(f, 40), rt = readLong(f, 48);
            long rb = readLong(f, rt), l2 = readLong(f, l1) & Qcow2Image.OFFSET_MASK;
            return new Layout(l1, rt, rb, l2, readLong(f, l2) & Qcow2Image.OFFSET_MASK);
        }

        long resolve(String expr) {
            long v = 0;
            for (String t : expr.split("\\+")) {
                t = t.strip();
                v += switch (t) {
                    case "@l1" -> l1;
                    case "@rt" -> rt;
                    case "@rb" -> rb;
                    case "@l2" -> l2;
                    case "@d0" -> d0;
                    case "@hdr" -> 0;
                    default -> t.startsWith("0x") ? Long.parseUnsignedLong(t.substring(2), 16) : Long.parseLong(t);
                };
            }
            return v;
        }
    }

    private static long readLong(RandomAccessFile f, long at) throws IOException {
        f.seek(at);
        return f.readLong();
    }
}
