package dev.vmm.chipset.acpi;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs ACPICA's {@code iasl} (Debian package {@code acpica-tools}) to disassemble tables and to
 * compile the disassembly back. Tests that need it are skipped when it is not installed.
 */
final class Iasl {
    private Iasl() { }

    record Result(int exitCode, String output) { }

    static Path binary() {
        return find("iasl");
    }

    /** ACPICA's {@code acpiexec} (same package): loads tables into a real ACPICA namespace. */
    static Path acpiexec() {
        return find("acpiexec");
    }

    private static Path find(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    static void assumeInstalled() {
        assumeTrue(binary() != null, "iasl not found on PATH: install the Debian package acpica-tools");
    }

    static Result run(Path dir, String... args) throws IOException, InterruptedException {
        return exec(dir, binary(), args);
    }

    static Result exec(Path dir, Path binary, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary.toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "iasl timed out");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    /** Disassembles {@code table} (a whole table with header) and returns the .dsl text. */
    static String disassemble(Path dir, String name, byte[] table) throws IOException, InterruptedException {
        Path dat = dir.resolve(name + ".dat");
        Files.write(dat, table);
        Result r = run(dir, "-d", dat.getFileName().toString());
        String dsl = Files.exists(dir.resolve(name + ".dsl")) ? Files.readString(dir.resolve(name + ".dsl")) : "";
        if (r.exitCode() != 0 || dsl.isEmpty())
            throw new AssertionError("iasl -d " + name + " failed (exit " + r.exitCode() + "):\n" + r.output());
        return dsl;
    }
}
