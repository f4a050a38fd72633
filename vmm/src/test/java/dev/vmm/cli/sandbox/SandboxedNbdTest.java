package dev.vmm.cli.sandbox;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code vmm nbd --sandbox on} in a child JVM (a filter cannot be removed, so never in the test
 * JVM): every thread shows {@code Seccomp: 2}, qemu-img reads the export through it byte for byte,
 * and SIGTERM still ends it through the JVM's shutdown as without the filter (not 159 = SIGSYS).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SandboxedNbdTest {
    @TempDir Path tmp;

    /** {@code sandbox}: on, off, or "default" for no --sandbox option at all. */
    private Process vmmNbd(String sandbox, Path sock, Path image) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), "dev.vmm.Main", "nbd"));
        if (!sandbox.equals("default")) cmd.addAll(List.of("--sandbox", sandbox));
        cmd.addAll(List.of("-t", "-r", "-f", "raw", "-k", sock.toString(), "--pid-file", sock + ".pid", image.toString()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("nbd-" + sandbox + ".log").toFile()).start();
    }

    private static void awaitSocket(Process p, Path sock, Path log) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // the pid file is created before the privileges are dropped and filled once the sandbox is entered
        while (!Files.exists(Path.of(sock + ".pid")) || Files.size(Path.of(sock + ".pid")) == 0) {
            if (!p.isAlive()) assertThat(Files.readString(log)).as("vmm nbd exited before listening").isEmpty();
            assertThat(System.nanoTime()).as("vmm nbd did not listen within 60 s").isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    private static List<String> seccompOfEveryThread(long pid) throws IOException {
        List<String> modes = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                List<String> status;
                try {
                    status = Files.readAllLines(t.resolve("status"));
                } catch (java.nio.file.NoSuchFileException threadEnded) {
                    continue; // a short-lived JVM thread that ended between the listing and the read
                }
                for (String l : status)
                    if (l.startsWith("Seccomp:")) modes.add(l.substring(8).trim());
            }
        }
        return modes;
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
        return out;
    }

    /** Serves, reads the export with qemu-img, stops with SIGTERM; returns the exit status. */
    private int serveAndRead(String sandbox, String expectedMode) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img is needed");
        Path image = tmp.resolve(sandbox + ".raw");
        byte[] data = new byte[1 << 20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 31 + (i >> 9));
        Files.write(image, data);
        Path sock = tmp.resolve(sandbox + ".sock");
        Process p = vmmNbd(sandbox, sock, image);
        try {
            awaitSocket(p, sock, tmp.resolve("nbd-" + sandbox + ".log"));
            List<String> modes = seccompOfEveryThread(p.pid());
            assertThat(modes).isNotEmpty().containsOnly(expectedMode);
            Path copy = tmp.resolve(sandbox + "-copy.raw");
            run("qemu-img", "convert", "-f", "raw", "-O", "raw", "nbd+unix:///?socket=" + sock, copy.toString());
            assertThat(Files.readAllBytes(copy)).isEqualTo(data);
            assertThat(seccompOfEveryThread(p.pid())).containsOnly(expectedMode);
        } finally {
            p.destroy();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        return p.exitValue();
    }

    @Test
    void sandboxOnFiltersEveryThreadAndStillServesAndStops() throws Exception {
        int off = serveAndRead("off", "0");
        int on = serveAndRead("on", "2");
        // SIGTERM ends it the same way with or without the filter: the shutdown path makes no denied call
        // (-t: it keeps serving after the client leaves, so it is SIGTERM that ends it: 128 + 15)
        assertThat(off).as(Files.readString(tmp.resolve("nbd-off.log"))).isEqualTo(143);
        assertThat(on).as(Files.readString(tmp.resolve("nbd-on.log"))).isEqualTo(143);
    }

    @Test
    void theDefaultIsOn() throws Exception {
        // no --sandbox option: every thread filtered, and it still serves and stops as with "on"
        int dflt = serveAndRead("default", "2");
        assertThat(dflt).as(Files.readString(tmp.resolve("nbd-default.log"))).isEqualTo(143);
    }

    @Test
    void onlyOnOrOffIsAccepted() {
        // parsed in this JVM: a refused value never reaches the filter
        assertThat(dev.vmm.Main.run("run", "--sandbox", "maybe", "--dry-run")).isEqualTo(2);
        assertThat(dev.vmm.Main.run("nbd", "--sandbox", "true", "x.raw")).isEqualTo(2);
        assertThat(dev.vmm.sandbox.Seccomp.mode()).isZero();
    }
}
