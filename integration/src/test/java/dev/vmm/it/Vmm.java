package dev.vmm.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real single-file binary {@code vmm/target/vmm} (built by the reactor before this
 * module's tests) as a child process, with a timeout, and collects its output.
 */
public final class Vmm {
    /** What a run produced. {@code status} is -1 if the process was killed at the timeout. */
    public record Result(int status, String stdout, String stderr, boolean timedOut, Duration elapsed) {
        public String describe() {
            return "status=" + status + (timedOut ? " (timed out)" : "") + " after " + elapsed.toMillis() + " ms"
                    + "\n--- stdout ---\n" + stdout + "\n--- stderr ---\n" + stderr;
        }
    }

    private Vmm() {}

    /** The binary: {@code -Dvmm.binary=...} or {@code <repo>/vmm/target/vmm}. */
    public static Path binary() {
        String p = System.getProperty("vmm.binary");
        if (p != null) return Path.of(p);
        Path here = Path.of("").toAbsolutePath();
        for (Path d = here; d != null; d = d.getParent()) {
            Path candidate = d.resolve("vmm/target/vmm");
            if (Files.isExecutable(candidate)) return candidate;
        }
        throw new IllegalStateException("vmm/target/vmm not found from " + here + "; build with ./mvnw package first");
    }

    public static Result run(Duration timeout, String... args) throws IOException, InterruptedException {
        return run(timeout, List.of(args));
    }

    public static Result run(Duration timeout, List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary().toString());
        cmd.addAll(args);
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        CompletableFuture<String> out = readAll(p.getInputStream());
        CompletableFuture<String> err = readAll(p.getErrorStream());
        boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);
        return new Result(done ? p.exitValue() : -1, out.join(), err.join(), !done, elapsed);
    }

    /**
     * Collects a stream on its own thread. Keeps what it read when the stream is closed under it:
     * Process.destroyForcibly closes the pipes, and a timed-out run's output is what explains it.
     */
    private static CompletableFuture<String> readAll(java.io.InputStream in) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon(true).start(() -> {
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            byte[] b = new byte[8192];
            try {
                int n;
                while ((n = in.read(b)) > 0) buf.write(b, 0, n);
            } catch (IOException e) {
                // closed by destroyForcibly: keep what arrived
            }
            f.complete(buf.toString(StandardCharsets.UTF_8));
        });
        return f;
    }

    /** Whether this host can run guests at all (KVM present and usable). */
    public static boolean kvmUsable() {
        return Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
    }
}
