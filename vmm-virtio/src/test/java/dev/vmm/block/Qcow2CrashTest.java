package dev.vmm.block;

import dev.vmm.block.qcow2.Qcow2Creator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A child process writing a qcow2 image is killed -9 at random points. Afterwards qemu-img check
 * finds no corruption (leaks are allowed) and every write acknowledged by a flush is there.
 */
class Qcow2CrashTest {
    private static final int KILLS = 6, CLUSTER = 4096; // per variant: 12 kills in all
    /** Operations the writer has started before the random delay to its kill begins. */
    private static final int MIN_OPS_BEFORE_KILL = 5;
    @TempDir Path tmp;

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void killedWriterLeavesConsistentImage(boolean lazyRefcounts) throws Exception {
        QemuTools.assumeAvailable();
        Path img = tmp.resolve("crash.qcow2");
        Qcow2Creator.create(img, CrashWriter.SIZE, new Qcow2Creator.Options(3, CLUSTER, lazyRefcounts, 16, null, null));
        long seed = lazyRefcounts ? 77 : 42;
        Random timing = new Random(seed);
        byte[] model = new byte[CrashWriter.SIZE];
        int next = 0;
        for (int round = 0; round < KILLS; round++) {
            List<String> lines = runAndKill(img, seed, next, 30 + timing.nextInt(400));
            int acked = -1, started = next - 1;
            for (String l : lines) {
                if (l.startsWith("ACK ")) acked = Integer.parseInt(l.substring(4));
                if (l.startsWith("OP ")) started = Integer.parseInt(l.substring(3));
            }
            // Acknowledged operations are in the model; later ones may or may not have happened.
            for (int i = next; i <= acked; i++) apply(model, CrashWriter.op(seed, i));
            BitSet uncertain = new BitSet(CrashWriter.SIZE);
            for (int i = Math.max(next, acked + 1); i <= started; i++) {
                long[] o = CrashWriter.op(seed, i);
                uncertain.set((int) o[1], (int) (o[1] + o[2]));
                if (o[0] == 2) uncertain.set((int) (o[1] / CLUSTER * CLUSTER), (int) Math.min(CrashWriter.SIZE, (o[1] + o[2] + CLUSTER) / CLUSTER * CLUSTER));
            }
            if (lazyRefcounts) {
                // A lazy-refcounts image is repaired on the next read-write open.
                try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) { d.flush(); }
            }
            QemuTools.Result check = QemuTools.exec("qemu-img", "check", img.toString());
            assertThat(check.exit()).as("round " + round + " qemu-img check:\n" + check.out() + check.err()).isIn(0, 3);
            byte[] actual = new byte[CrashWriter.SIZE];
            try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) {
                d.read(0, MemorySegment.ofArray(actual));
            }
            if (round == KILLS - 1) assertThat(Arrays.mismatch(actual, QemuTools.toRaw(img, tmp))).as("our reading agrees with qemu's").isEqualTo(-1);
            for (int b = 0; b < model.length; b++) {
                if (uncertain.get(b)) model[b] = actual[b]; // adopt what the uncertain operations left
                else if (model[b] != actual[b]) {
                    StringBuilder hist = new StringBuilder();
                    for (int i = 0; i <= started; i++) {
                        long[] o = CrashWriter.op(seed, i);
                        if (b >= o[1] / CLUSTER * CLUSTER && b < (o[1] + o[2] + CLUSTER) / CLUSTER * CLUSTER) hist.append("\n op ").append(i).append(" ").append(Arrays.toString(o));
                    }
                    String st;
                    try (BlockDevice d = Images.open(img, Images.Options.readOnlyDefaults())) { st = d.status(b, 1).toString(); }
                    throw new AssertionError("round " + round + ": acknowledged byte " + b + " is " + actual[b] + ", expected " + model[b]
                            + " (acked through op " + acked + ", started " + started + ", first op this round " + next + ") " + st + hist);
                }
            }
            next = started + 1;
        }
        assertThat(next).as("the writer made progress").isGreaterThan(KILLS * 4);
    }

    private static void apply(byte[] model, long[] o) {
        int off = (int) o[1], len = (int) o[2];
        switch ((int) o[0]) {
            case 0 -> Arrays.fill(model, off, off + len, (byte) o[3]);
            case 1 -> Arrays.fill(model, off, off + len, (byte) 0);
            default -> {
                long first = (off + CLUSTER - 1) / CLUSTER * CLUSTER, end = (long) (off + len) / CLUSTER * CLUSTER;
                for (long c = first; c < end; c += CLUSTER) Arrays.fill(model, (int) c, (int) (c + CLUSTER), (byte) 0);
            }
        }
    }

    /**
     * Runs the writer until it is killed. Its output goes to a file, not a pipe: once the process is
     * dead the file holds every line it printed (a pipe drained concurrently with the kill can lose
     * the last lines, which would make the test blame the image for operations it never saw start).
     */
    private List<String> runAndKill(Path img, long seed, int first, int delayMs) throws IOException, InterruptedException {
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        Path log = tmp.resolve("writer-" + first + ".log");
        Process p = new ProcessBuilder(javaBin, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                CrashWriter.class.getName(), img.toString(), Long.toString(seed), Integer.toString(first))
                .redirectError(ProcessBuilder.Redirect.INHERIT).redirectOutput(log.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!java.nio.file.Files.readString(log).startsWith("READY")) {
            assertThat(p.isAlive()).as("writer started").isTrue();
            assertThat(System.nanoTime()).as("writer start timeout").isLessThan(deadline);
            Thread.sleep(5);
        }
        // The kill point is random in time, but only once the writer is under way: on a loaded host a
        // fixed delay after READY can pass before the child has run at all (no operation to interrupt).
        while (java.nio.file.Files.readAllLines(log).stream().filter(l -> l.startsWith("OP ")).count() < MIN_OPS_BEFORE_KILL) {
            assertThat(p.isAlive()).as("writer running").isTrue();
            assertThat(System.nanoTime()).as("writer progress timeout").isLessThan(deadline);
            Thread.sleep(2);
        }
        Thread.sleep(delayMs);
        p.destroyForcibly(); // SIGKILL
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return java.nio.file.Files.readAllLines(log);
    }
}
