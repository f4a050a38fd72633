package dev.vmm.it;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a guest kernel under {@code qemu-system-x86_64 -M pc -kernel ...} as a reference for our VMM:
 * COM1 goes to a file, the guest ends itself through isa-debug-exit at port 0xf4 (writing v makes
 * QEMU exit with status {@code (v << 1) | 1}), and a timeout bounds the run.
 *
 * <p>The accelerator defaults to TCG: on this project's PVM host KVM works for the guest kit but
 * SeaBIOS and the PVH/multiboot option ROMs run as emulated CPL0 code there, so every boot costs
 * 7-10 s instead of ~0.2 s. Override with {@code -Dvmm.it.qemu.accel=kvm}.
 */
public final class Qemu {
    public static final String BINARY = "qemu-system-x86_64";
    public static final String ACCEL_PROPERTY = "vmm.it.qemu.accel";
    private static final Pattern EXIT_LINE = Pattern.compile("(?m)^EXIT (\\d+)\\r?$");

    private Qemu() {}

    /** How to run the guest; {@code extraArgs} are appended to QEMU's command line as they are. */
    public record Config(String accel, int memoryMib, int cpus, String cmdline, Duration timeout, List<String> extraArgs) {
        public Config {
            if (!accel.matches("[a-z]+")) throw new IllegalArgumentException("bad accel: " + accel);
            if (memoryMib < 16) throw new IllegalArgumentException("memory too small: " + memoryMib + " MiB");
            if (cpus < 1) throw new IllegalArgumentException("cpus must be >= 1");
            extraArgs = List.copyOf(extraArgs);
        }

        /**
         * 128 MiB, 1 CPU, no command line, accel from {@value #ACCEL_PROPERTY} or tcg; a timeout of
         * 60 s, or 300 s for KVM, whose firmware boot alone can take 50 s on the loaded PVM host.
         */
        public static Config defaults() {
            String accel = System.getProperty(ACCEL_PROPERTY, "tcg");
            Duration timeout = Duration.ofSeconds(accel.equals("tcg") ? 60 : 300);
            return new Config(accel, 128, 1, "", timeout, List.of());
        }

        public Config withAccel(String a) { return new Config(a, memoryMib, cpus, cmdline, timeout, extraArgs); }
        public Config withMemoryMib(int m) { return new Config(accel, m, cpus, cmdline, timeout, extraArgs); }
        public Config withCpus(int c) { return new Config(accel, memoryMib, c, cmdline, timeout, extraArgs); }
        public Config withCmdline(String s) { return new Config(accel, memoryMib, cpus, s, timeout, extraArgs); }
        public Config withTimeout(Duration t) { return new Config(accel, memoryMib, cpus, cmdline, t, extraArgs); }
        public Config withExtraArgs(String... args) { return new Config(accel, memoryMib, cpus, cmdline, timeout, List.of(args)); }
    }

    /**
     * What a run produced. {@code processStatus} is QEMU's exit status (-1 after a timeout).
     */
    public record Result(String serial, String stderr, int processStatus, boolean timedOut, Duration elapsed) {
        /**
         * The value the guest wrote to the exit port, decoded from QEMU's status. Empty after a
         * timeout or an even status (QEMU quit for another reason). Note that status 1 is both
         * "guest wrote 0" and QEMU's generic error status: compare with {@link #serialExitCode()}.
         */
        public OptionalInt guestExitCode() {
            if (timedOut || (processStatus & 1) == 0) return OptionalInt.empty();
            return OptionalInt.of(processStatus >> 1);
        }

        /** The value of the guest kit's final {@code EXIT <v>} line, if it printed one. */
        public OptionalInt serialExitCode() {
            Matcher m = EXIT_LINE.matcher(serial);
            int v = -1;
            while (m.find()) v = Integer.parseInt(m.group(1));
            return v < 0 ? OptionalInt.empty() : OptionalInt.of(v);
        }

        /** A readable summary for assertion messages. */
        public String describe() {
            return "status=" + processStatus + (timedOut ? " (timed out)" : "") + " elapsed=" + elapsed.toMillis()
                    + "ms\n--- serial ---\n" + serial + "--- stderr ---\n" + stderr;
        }
    }

    /** The QEMU binary on PATH, if any. */
    public static Optional<Path> find() {
        String path = System.getenv("PATH");
        if (path == null) return Optional.empty();
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, BINARY);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /** The command line used for a run (serial output to {@code serialFile}). */
    public static List<String> command(Path qemu, Path kernel, Config c, Path serialFile) {
        List<String> cmd = new ArrayList<>(List.of(
                qemu.toString(), "-M", "pc", "-accel", c.accel(),
                "-m", Integer.toString(c.memoryMib()), "-smp", Integer.toString(c.cpus()),
                "-display", "none", "-nodefaults", "-no-reboot", "-monitor", "none",
                "-serial", "file:" + serialFile,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel", kernel.toString()));
        if (!c.cmdline().isEmpty()) {
            cmd.add("-append");
            cmd.add(c.cmdline());
        }
        cmd.addAll(c.extraArgs());
        return cmd;
    }

    /** Boots {@code kernel} and waits for QEMU to exit or the timeout to pass. */
    public static Result run(Path kernel, Config c) throws IOException, InterruptedException {
        Path qemu = find().orElseThrow(() -> new IOException(BINARY + " not found on PATH"));
        Path dir = Files.createTempDirectory("vmm-qemu");
        Path serial = dir.resolve("serial.txt");
        Path stderr = dir.resolve("stderr.txt");
        try {
            long start = System.nanoTime();
            Process p = new ProcessBuilder(command(qemu, kernel, c, serial))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(stderr.toFile())
                    .start();
            boolean done = p.waitFor(c.timeout().toMillis(), TimeUnit.MILLISECONDS);
            if (!done) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
            return new Result(read(serial), read(stderr), done ? p.exitValue() : -1, !done, elapsed);
        } finally {
            Files.deleteIfExists(serial);
            Files.deleteIfExists(stderr);
            Files.deleteIfExists(dir);
        }
    }

    private static String read(Path p) throws IOException {
        return Files.exists(p) ? new String(Files.readAllBytes(p), StandardCharsets.ISO_8859_1) : "";
    }
}
