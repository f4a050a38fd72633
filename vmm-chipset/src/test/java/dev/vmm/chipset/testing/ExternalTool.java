package dev.vmm.chipset.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a host tool (iasl, acpiexec, dmidecode) for a test; tests skip with the reason when it is absent. */
public final class ExternalTool {
    private ExternalTool() { }

    public record Result(int exitCode, String output) { }

    /** The tool on PATH (also /usr/sbin, where Debian puts dmidecode), or null. */
    public static Path find(String name) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":")));
        dirs.add("/usr/sbin");
        dirs.add("/sbin");
        for (String dir : dirs) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** The tool, or the test is skipped saying which Debian package provides it. */
    public static Path require(String name, String debianPackage) {
        Path p = find(name);
        assumeTrue(p != null, name + " not found: install the Debian package " + debianPackage);
        return p;
    }

    public static Result run(Path dir, Path binary, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), binary + " timed out");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
