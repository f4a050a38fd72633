package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.vmm.block.QemuTools.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Qcow2Image}'s write path against QEMU's: one starting image (made by qemu-img and qemu-io:
 * data, compressed and zero clusters, optionally a backing file shorter than the disk) is copied
 * twice; the same list of operations (qemu-io syntax) goes to one copy through qemu-io and to the
 * other through our image. Then, at test time:
 * <ul>
 *   <li>{@code qemu-img compare} finds the two disks equal (guest-visible bytes, backing included);
 *   <li>our reads of the finished image (the whole disk at once, and odd ranges that cross cluster
 *       and L2-table boundaries) equal qemu-img's conversion of QEMU's copy;
 *   <li>{@code qemu-img check} finds our copy clean;
 *   <li>where the allocation is defined by whole-cluster operations (the {@code map} column),
 *       {@code qemu-img map --output=json} of both copies lists the same extents (start, length,
 *       depth, present, zero, data, and whether there is a host offset; the offsets themselves are
 *       the allocators' choice).
 * </ul>
 * The operations hit every path of the writer: copy-on-write of partial clusters from the backing
 * file, from a compressed cluster, from a zero cluster and from nothing; writes across L2 tables
 * (512-byte clusters: a table covers 32 KiB); zero writes with and without may-unmap over each kind
 * of cluster; discards; and the last, partial cluster of a disk whose size is not cluster aligned.
 */
@Timeout(180)
class Qcow2ImageQemuIoOracleTest {
    private static final Pattern MAP_ENTRY = Pattern.compile(
            "\"start\": (\\d+), \"length\": (\\d+), \"depth\": (\\d+), \"present\": (true|false), \"zero\": (true|false), \"data\": (true|false)(, \"offset\": \\d+)?");
    @TempDir Path tmp;

    /** The starting image's contents, in qemu-io commands: every kind of cluster, some next to each other. */
    private static final String[] SETUP = {
            "write -P 0x11 0 6k", "write -c -P 0x22 8k 4k", "write -z 12k 4k", "write -P 0x33 16k 4k", "write -z 20k 4k",
            "write -P 0x44 30k 4k", "write -c -P 0x55 36k 4k", "write -P 0x66 60k 8k", "write -P 0x77 200k 4k"};

    /** Cluster-aligned operations: QEMU's allocation for them is what ours must be. */
    private static final String[] ALIGNED = {
            "write -P 0xa1 24k 4k",       // unallocated (backing data or nothing) -> data
            "write -z 16k 4k",            // allocated data, no unmap: keeps the allocation, flagged zero
            "write -z -u 0k 4k",          // allocated data, may unmap: released, flagged zero
            "write -z 8k 4k",             // compressed: always released
            "write -z 40k 8k",            // unallocated: flagged zero (over a backing file it must hide it)
            "discard 60k 4k",             // allocated data discarded
            "discard 36k 4k",             // compressed discarded
            "discard 44k 4k",             // unallocated discarded
            "write -P 0xa2 12k 4k",       // a zero cluster rewritten
            "write -P 0xa3 28k 8k",       // across the first L2 table's end (32 KiB)
            "write -z -u 20k 4k"};        // a zero cluster zeroed again

    /** Unaligned operations: copy-on-write of every kind of old cluster, partial zeroes and discards. */
    private static final String[] UNALIGNED = {
            "write -P 0xb1 24700 1000",   // inside an unallocated cluster: COW from the backing file or zeroes
            "write -P 0xb2 9000 300",     // inside a compressed cluster
            "write -P 0xb3 12800 700",    // inside a zero cluster
            "write -P 0xb4 5000 5000",    // from data through a compressed cluster: several kinds in one write
            "write -P 0xb5 32000 1500",   // across the L2 boundary at 32 KiB, both ends partial
            "write -P 0xb6 36100 40000",  // long: a compressed cluster, unallocated ones, data, several tables
            "write -z 61000 3000",        // partial zeroes inside data
            "write -z -u 16100 9000",     // partial ends, whole clusters in between
            "discard 200100 5000",        // partial discard: only whole clusters inside go
            "write -P 0xb7 100000 20000"};

    @ParameterizedTest(name = "compat={0} cluster={1} backing={2} size={3} ops={4}")
    @CsvSource({
            // compat, cluster, backing size (0: none), disk size, operations, compare maps
            "1.1, 4096, 0,      1048576, aligned,   true",
            "1.1, 4096, 0,      1047040, aligned,   true",
            "1.1, 4096, 100352, 1047040, aligned,   true",
            "1.1, 4096, 100352, 1048576, aligned,   true",
            "1.1, 512,  100352, 1048576, aligned,   true",
            "0.10, 4096, 0,     1048576, aligned,   true",
            "1.1, 4096, 0,      1048576, unaligned, false",
            "1.1, 4096, 100352, 1048576, unaligned, false",
            "1.1, 512,  100352, 1048576, unaligned, false",
            "0.10, 4096, 0,     1048576, unaligned, false",
            "0.10, 4096, 100352, 1048576, unaligned, false",
            "0.10, 512, 100352, 1048576, unaligned, false",
            "1.1, 4096, 100352, 1047040, unaligned, false",
    })
    void theSameOperationsLeaveTheSameDiskAsQemuIo(String compat, int cluster, int backingSize, long size, String ops, boolean compareMaps)
            throws IOException {
        QemuTools.assumeAvailable();
        Path start = tmp.resolve("start.qcow2");
        String opts = "compat=" + compat + ",cluster_size=" + cluster + ",refcount_bits=16";
        if (backingSize > 0) {
            Path base = tmp.resolve("base.qcow2");
            run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", base.toString(), String.valueOf(backingSize));
            QemuTools.io(base, "qcow2", "write -P 0x5b 0 " + backingSize, "write -z 40k 4k");
            run("qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, "-b", "base.qcow2", "-F", "qcow2", start.toString(), String.valueOf(size));
        } else {
            run("qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, start.toString(), String.valueOf(size));
        }
        QemuTools.io(start, "qcow2", SETUP);
        List<String> list = new ArrayList<>(List.of(ops.equals("aligned") ? ALIGNED : UNALIGNED));
        // The end of the disk: a write ending exactly there, the last (maybe partial) cluster discarded,
        // the one before it zeroed.
        long last = (size - 1) / cluster * cluster;
        list.add("write -P 0xc1 " + (size - 3000) + " 3000");
        list.add("discard " + last + " " + (size - last));
        list.add("write -z " + (last - cluster) + " " + cluster);
        if (compat.equals("0.10") && backingSize > 0) {
            // A v2 image cannot flag zeroes: QEMU's discard then shows the backing file again where ours
            // keeps the data (discard is advisory: either is allowed), so the bytes differ by design.
            list.removeIf(c -> c.startsWith("discard"));
        }
        Path theirs = tmp.resolve("theirs.qcow2"), ours = tmp.resolve("ours.qcow2");
        Files.copy(start, theirs, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(start, ours, StandardCopyOption.REPLACE_EXISTING);
        qemuIo(theirs, list);
        try (BlockDevice d = Images.open(ours, Images.Options.readWriteDefaults())) {
            assertThat(d).isInstanceOf(Qcow2Image.class);
            for (String c : list) apply(d, c);
        }
        QemuTools.Result check = QemuTools.exec("qemu-img", "check", ours.toString());
        assertThat(check.exit()).as("qemu-img check of ours: %s%s", check.out(), check.err()).isZero();
        QemuTools.Result cmp = QemuTools.exec("qemu-img", "compare", ours.toString(), theirs.toString());
        assertThat(cmp.exit()).as("qemu-img compare ours theirs: %s%s", cmp.out(), cmp.err()).isZero();
        assertOurReadsEqual(ours, QemuTools.toRaw(theirs, tmp));
        if (compareMaps) assertThat(map(ours)).as("qemu-img map of ours vs of QEMU's").isEqualTo(map(theirs));
    }

    /** qemu-io with discard enabled (as our image always honours it), every command in one process. */
    private static void qemuIo(Path image, List<String> commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2", "-d", "unmap"));
        for (String c : commands) { cmd.add("-c"); cmd.add(c); }
        cmd.add(image.toString());
        String out = run(cmd.toArray(String[]::new));
        assertThat(out).as("qemu-io output").doesNotContain("error").doesNotContain("failed");
    }

    /** One qemu-io command ({@code write [-P p|-z [-u]] off len}, {@code discard off len}) on our image. */
    private static void apply(BlockDevice d, String command) {
        String[] w = command.split(" ");
        long off = bytes(w[w.length - 2]), len = bytes(w[w.length - 1]);
        if (w[0].equals("discard")) {
            d.discard(off, len);
        } else if (w[1].equals("-z")) {
            d.writeZeroes(off, len, w[2].equals("-u"));
        } else if (w[1].equals("-P")) {
            byte[] b = new byte[(int) len];
            Arrays.fill(b, (byte) Integer.parseInt(w[2].substring(2), 16));
            d.write(off, MemorySegment.ofArray(b));
        } else {
            throw new IllegalArgumentException(command);
        }
    }

    private static long bytes(String s) {
        return s.endsWith("k") ? Long.parseLong(s.substring(0, s.length() - 1)) * 1024 : Long.parseLong(s);
    }

    /** Our image read read-only: the whole disk in one read, then odd ranges that cross cluster and table boundaries. */
    private static void assertOurReadsEqual(Path ours, byte[] reference) {
        try (BlockDevice d = Images.open(ours, Images.Options.readOnlyDefaults())) {
            byte[] all = new byte[reference.length];
            d.read(0, MemorySegment.ofArray(all));
            assertThat(Arrays.mismatch(all, reference)).as("first differing byte of the whole disk").isEqualTo(-1);
            Random r = new Random(11);
            for (int i = 0; i < 200; i++) {
                int off = r.nextInt(reference.length), len = Math.min(reference.length - off, 1 + r.nextInt(40000));
                byte[] part = new byte[len];
                d.read(off, MemorySegment.ofArray(part));
                assertThat(Arrays.mismatch(part, Arrays.copyOfRange(reference, off, off + len))).as("read of %d at %d", len, off).isEqualTo(-1);
            }
        }
    }

    /** qemu-img map's entries without the host offsets' values (whether there is one stays). */
    private static List<String> map(Path img) {
        List<String> entries = new ArrayList<>();
        Matcher m = MAP_ENTRY.matcher(run("qemu-img", "map", "--output=json", img.toString()));
        while (m.find()) {
            entries.add(String.join(" ", m.group(1), m.group(2), m.group(3), "present=" + m.group(4), "zero=" + m.group(5),
                    "data=" + m.group(6), m.group(7) == null ? "no-offset" : "offset"));
        }
        assertThat(entries).as("map entries of %s", img.getFileName()).isNotEmpty();
        return entries;
    }
}
