package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.Images;
import dev.vmm.block.QemuTools;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Crash states of our qcow2 writer, rebuilt in process and judged by QEMU. The image file's
 * {@link ImageFile.Journal} records every write, hole punch and sync of a session of writes, zero
 * writes, discards and flushes. A crash may leave any subset of the writes since the last sync on
 * disk, so for every sync interval the test rebuilds the file as it was at the interval's start
 * plus ONE write (or punch) of the interval: the write the ordering rules say may land first. A
 * missing sync between refcounts and the L2 table that uses them, or between an L2 table and the L1
 * entry that points to it, makes one of these states corrupt or lose flushed data.
 *
 * <p>For each state: {@code qemu-img check} must find no corruption (exit 0, or 3 for leaked
 * clusters only), and {@code qemu-img convert} must read every byte that the last completed flush
 * acknowledged and no later operation touched as the model says. The session COWs clusters and L2
 * tables shared with a snapshot {@code qemu-img snapshot} made, so that old references are dropped
 * and freed, and grows the file past its first refcount block.
 */
@Timeout(240)
class Qcow2CrashStateQemuOracleTest {
    private static final int CLUSTER = 512;
    private static final int SIZE = 1 << 20;
    @TempDir Path tmp;

    private sealed interface Event permits Wrote, Punched, Synced {}
    private record Wrote(long offset, byte[] data) implements Event {}
    private record Punched(long offset, long length) implements Event {}
    private record Synced() implements Event {}

    /** Records the file's events (the journal runs under the image's lock: one thread at a time). */
    private static final class Recorder implements ImageFile.Journal {
        final List<Event> events = new ArrayList<>();

        @Override public synchronized void wrote(long offset, MemorySegment data) { events.add(new Wrote(offset, data.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))); }

        @Override public synchronized void punched(long offset, long length) { events.add(new Punched(offset, length)); }

        @Override public synchronized void synced() { events.add(new Synced()); }

        synchronized int afterLastSync() {
            for (int i = events.size() - 1; i >= 0; i--) if (events.get(i) instanceof Synced) return i + 1;
            return 0;
        }
    }

    /** What a completed flush acknowledged: the events up to its last sync, the contents, the operations before it. */
    private record Checkpoint(int mark, byte[] model, int ops) {}

    private final List<Checkpoint> checkpoints = new ArrayList<>();
    private final List<long[]> touched = new ArrayList<>(); // {offset, length} per operation, in order
    private byte[] model;
    private Recorder rec;
    private Qcow2Image img;

    @Test
    void everyStateACrashCanLeaveIsCleanForQemuAndKeepsFlushedData() throws IOException {
        QemuTools.assumeAvailable();
        Path path = tmp.resolve("c.qcow2");
        // qemu-img makes the starting image: data in the first two L2 tables, a snapshot that shares
        // them, and one COW write of QEMU's own after it.
        QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER + ",refcount_bits=16", path.toString(), String.valueOf(SIZE));
        QemuTools.io(path, "qcow2", "write -P 0x11 0 64k", "write -P 0x12 100k 4k");
        QemuTools.run("qemu-img", "snapshot", "-c", "s1", path.toString());
        QemuTools.io(path, "qcow2", "write -P 0x22 8k 4k");
        model = QemuTools.toRaw(path, tmp);

        img = (Qcow2Image) Images.open(path, Images.Options.readWriteDefaults());
        byte[] base = Files.readAllBytes(path);
        rec = new Recorder();
        img.file().journal(rec);
        checkpoints.add(new Checkpoint(0, model.clone(), 0));

        write(1000, 1500, 0x33);          // partial clusters at both ends, COW of snapshot-shared data
        write(40 * 1024 + 100, 700, 0x44); // COW of the second L2 table, still shared with the snapshot
        flush();
        write(200 * 1024, 130 * 1024, 0x55); // new L2 tables, past the first refcount block's 128 KiB of file
        zero(16 * 1024, 8 * 1024, true);  // snapshot-shared clusters dropped
        discard(48 * 1024, 8 * 1024);
        zero(101 * 1024 + 10, 2000, false); // partial clusters written as zeroes, full ones flagged
        flush();
        write(0, 512, 0x66);              // in place: cluster 0 is ours since the first COW
        write(210 * 1024, 4096, 0x77);    // in place over the new run
        discard(200 * 1024, 4096);         // frees clusters we allocated (refcount 1: punched)
        flush();
        img.close();

        assertThat(QemuTools.exec("qemu-img", "check", path.toString()).exit()).as("qemu-img check of the closed image").isZero();
        assertThat(Arrays.equals(QemuTools.toRaw(path, tmp), model)).as("closed image equals the model").isTrue();

        List<Event> ev = rec.events;
        List<Integer> syncs = new ArrayList<>();
        for (int i = 0; i < ev.size(); i++) if (ev.get(i) instanceof Synced) syncs.add(i);
        assertThat(syncs.size()).as("syncs recorded").isGreaterThanOrEqualTo(9);
        int states = 0;
        int start = 0;
        for (int k = 0; k <= syncs.size(); k++) {
            int end = k < syncs.size() ? syncs.get(k) : ev.size();
            for (int i = start; i < end; i++) {
                judge(path, base, ev, start, i, "interval " + k + " event " + i + " (" + describe(ev.get(i)) + ")");
                states++;
            }
            start = end + 1;
        }
        assertThat(states).as("crash states judged").isGreaterThan(20);
    }

    /**
     * One allocating write longer than a refcount block covers (512-byte clusters, 16-bit refcounts:
     * 256 clusters per block), into fresh space: the file grows about as much as QEMU's does for the
     * same write (it once created a refcount block per region and regrew the refcount table, 16 MiB
     * for 130 KiB), and both images read back the same.
     */
    @Test
    void aWriteRunLongerThanOneRefcountBlockCoversGrowsTheFileLikeQemus() throws IOException {
        QemuTools.assumeAvailable();
        Path ours = tmp.resolve("ours.qcow2"), theirs = tmp.resolve("theirs.qcow2");
        for (Path p : List.of(ours, theirs)) {
            QemuTools.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER + ",refcount_bits=16", p.toString(), String.valueOf(SIZE));
        }
        int off = 200 * 1024, len = 330 * 1024;
        QemuTools.io(theirs, "qcow2", "write -P 0x55 " + off + " " + len);
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) 0x55);
        try (Qcow2Image d = (Qcow2Image) Images.open(ours, Images.Options.readWriteDefaults())) {
            d.write(off, MemorySegment.ofArray(b));
        }
        assertThat(QemuTools.exec("qemu-img", "check", ours.toString()).exit()).as("qemu-img check").isZero();
        assertThat(Arrays.equals(QemuTools.toRaw(ours, tmp), QemuTools.toRaw(theirs, tmp))).as("same contents as QEMU's").isTrue();
        assertThat(Files.size(ours)).as("file size (QEMU's: %d)", Files.size(theirs)).isLessThanOrEqualTo(Files.size(theirs) + 8L * CLUSTER);
    }

    private void judge(Path original, byte[] base, List<Event> ev, int prefix, int extra, String what) throws IOException {
        Path state = tmp.resolve("state.qcow2");
        try (RandomAccessFile f = new RandomAccessFile(state.toFile(), "rw")) {
            f.setLength(0);
            f.write(base);
            for (int i = 0; i < prefix; i++) apply(f, ev.get(i));
            apply(f, ev.get(extra));
        }
        QemuTools.Result check = QemuTools.exec("qemu-img", "check", state.toString());
        assertThat(check.exit()).as("qemu-img check after %s: %s%s", what, check.out(), check.err()).isIn(0, 3);
        Checkpoint c = checkpoints.getFirst();
        for (Checkpoint x : checkpoints) if (x.mark <= prefix) c = x;
        BitSet unsure = new BitSet();
        for (int op = c.ops; op < touched.size(); op++) {
            long[] t = touched.get(op);
            unsure.set((int) t[0], (int) (t[0] + t[1]));
        }
        byte[] got = QemuTools.toRaw(state, tmp);
        for (int b = 0; b < SIZE; b++) {
            if (!unsure.get(b) && got[b] != c.model[b]) {
                throw new AssertionError("after " + what + ": byte 0x" + Integer.toHexString(b) + " reads " + got[b]
                        + ", the flush at event " + c.mark + " acknowledged " + c.model[b]);
            }
        }
        Files.delete(state);
    }

    private static void apply(RandomAccessFile f, Event e) throws IOException {
        switch (e) {
            case Wrote w -> { f.seek(w.offset); f.write(w.data); }
            case Punched p -> {
                long end = Math.min(f.length(), p.offset + p.length);
                if (end > p.offset) { f.seek(p.offset); f.write(new byte[(int) (end - p.offset)]); }
            }
            case Synced s -> { }
        }
    }

    private static String describe(Event e) {
        return switch (e) {
            case Wrote w -> "write of " + w.data.length + " bytes at 0x" + Long.toHexString(w.offset);
            case Punched p -> "punch of " + p.length + " bytes at 0x" + Long.toHexString(p.offset);
            case Synced s -> "sync";
        };
    }

    private void write(int off, int len, int pattern) {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) pattern);
        img.write(off, MemorySegment.ofArray(b));
        System.arraycopy(b, 0, model, off, len);
        touched.add(new long[] {off, len});
    }

    private void zero(int off, int len, boolean unmap) {
        img.writeZeroes(off, len, unmap);
        Arrays.fill(model, off, off + len, (byte) 0);
        touched.add(new long[] {off, len});
    }

    /** Discard: whole clusters inside the range read as zeroes (no backing file), partial ones are untouched. */
    private void discard(int off, int len) {
        img.discard(off, len);
        int first = (off + CLUSTER - 1) / CLUSTER * CLUSTER, end = (off + len) / CLUSTER * CLUSTER;
        if (end > first) Arrays.fill(model, first, end, (byte) 0);
        touched.add(new long[] {off, len});
    }

    private void flush() {
        img.flush();
        checkpoints.add(new Checkpoint(rec.afterLastSync(), model.clone(), touched.size()));
    }
}
