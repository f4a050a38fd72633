package dev.vmm.aot;

import dev.vmm.Main;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The training run behind the launcher's JDK AOT cache ({@code -XX:AOTCacheOutput}): the short
 * commands whose start-up the cache is for — a dry run with a disk and an RNG, and {@code img info}
 * of a raw and of a qcow2 image — run once in one JVM so that their classes, linkage and profiles
 * are recorded together; and a guest's exit path replayed without KVM ({@link dev.vmm.machine.ExitReplay}). Touches nothing but its own temporary directory; prints nothing.
 */
public final class AotTraining {
    private AotTraining() {}

    public static void main(String[] args) throws IOException {
        PrintStream out = System.out, err = System.err;
        PrintStream nowhere = new PrintStream(OutputStream.nullOutputStream());
        Path dir = Files.createTempDirectory("vmm-aot-training");
        try {
            System.setOut(nowhere);
            System.setErr(nowhere);
            Path raw = dir.resolve("disk.img");
            try (var f = java.nio.channels.FileChannel.open(raw, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE)) {
                f.truncate(0);
                f.position((1 << 20) - 1).write(java.nio.ByteBuffer.wrap(new byte[1]));
            }
            Path qcow2 = dir.resolve("disk.qcow2");
            Main.run("img", "create", "-q", "-f", "qcow2", qcow2.toString(), "1G");
            Main.run("run", "--dry-run", "--disk", "path=" + raw, "--rng");
            Main.run("run", "--dry-run", "--disk", "path=" + qcow2);
            // --sandbox off: img's default (on) would install the process-wide seccomp filter in this
            // JVM, and the JVM then dies of SIGSYS when it forks the child that assembles the cache
            // (-XX:AOTCacheOutput): no cache was ever written. The filter's program is still built,
            // so its classes are in the cache; only the two system calls that install it are not made.
            Main.run("img", "info", "--sandbox", "off", raw.toString());
            Main.run("img", "info", "--sandbox", "off", qcow2.toString());
            dev.vmm.sandbox.ProcessFilter.program();
            // A guest's exit path (PIO to the serial port, CMOS, POST port) through the vCPU's own
            // dispatcher: its profile in the cache lets a guest's first exits run compiled code.
            try (dev.vmm.machine.ExitReplay exits = new dev.vmm.machine.ExitReplay()) {
                exits.mix(20_000);
            }
        } finally {
            System.setOut(out);
            System.setErr(err);
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
