package dev.vmm.block;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs qemu-img / qemu-io, the reference implementation; tests that need them skip when they are missing. */
public final class QemuTools {
    private static Boolean available;

    private QemuTools() {}

    public static synchronized boolean available() {
        if (available == null) {
            available = onPath("qemu-img") && onPath("qemu-io");
        }
        return available;
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    public static void assumeAvailable() {
        Assumptions.assumeTrue(available(), "qemu-img/qemu-io not installed (apt-get install qemu-utils): reference tests skipped");
    }

    public record Result(int exit, String out, String err) {}

    /**
     * Runs a command with a deadline. Its output goes to temporary files, not pipes: a tool that
     * writes much to stderr (qemu-img check on a damaged image) would block on a full pipe while we
     * read stdout, and never exit.
     */
    public static Result exec(String... cmd) {
        Path out = null, err = null;
        try {
            out = Files.createTempFile("qemu-tools", ".out");
            err = Files.createTempFile("qemu-tools", ".err");
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } catch (IOException | InterruptedException e) {
            throw new AssertionError("cannot run " + cmd[0] + ": " + e, e);
        } finally {
            try {
                if (out != null) Files.deleteIfExists(out);
                if (err != null) Files.deleteIfExists(err);
            } catch (IOException ignored) {
                // a temporary file left behind is harmless
            }
        }
    }

    /** Runs a command that must succeed; returns its standard output. */
    public static String run(String... cmd) {
        Result r = exec(cmd);
        if (r.exit != 0) throw new AssertionError(String.join(" ", cmd) + " failed (" + r.exit + "): " + r.err + r.out);
        return r.out;
    }

    /** qemu-io -c for each command, on an image of the given format. */
    public static void io(Path image, String format, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) { cmd.add("-c"); cmd.add(c); }
        cmd.add(image.toString());
        String out = run(cmd.toArray(String[]::new));
        if (out.contains("error") || out.contains("failed")) throw new AssertionError("qemu-io: " + out);
    }

    /** The image converted to raw by qemu-img: the reference contents. */
    public static byte[] toRaw(Path image, Path tmp) throws IOException {
        return toRaw(image, null, tmp);
    }

    public static byte[] toRaw(Path image, String format, Path tmp) throws IOException {
        Path raw = tmp.resolve(image.getFileName() + ".ref.raw");
        if (format == null) run("qemu-img", "convert", "-U", "-O", "raw", image.toString(), raw.toString());
        else run("qemu-img", "convert", "-U", "-f", format, "-O", "raw", image.toString(), raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }
}
