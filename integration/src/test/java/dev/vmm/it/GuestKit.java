package dev.vmm.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The guest kit (integration/guest-kit): small freestanding C guests, each built in two boot
 * formats. {@link #get()} runs {@code make} into {@code integration/target/guest-kit} once per JVM;
 * make itself decides what is missing or stale, so an up-to-date kit costs one no-op make run.
 */
public final class GuestKit {
    /** The first guests of the kit (the ones every runner compares); the kit builds every guests/*.c. */
    public static final List<String> GUESTS = List.of("hello", "demo", "exits", "smp", "memtest", "blk");

    /** Boot format of an image; the file is {@code <guest>.<suffix>.elf}. */
    public enum Format {
        /** ELF64 with a Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY): hvm_start_info in %ebx. */
        PVH("pvh"),
        /** ELF32 with a multiboot v1 header: multiboot info in %ebx, 0x2BADB002 in %eax. */
        MULTIBOOT("mb");

        private final String suffix;

        Format(String suffix) { this.suffix = suffix; }

        public String suffix() { return suffix; }
    }

    /** Property naming the kit's source directory (default: found from the working directory). */
    public static final String SOURCE_PROPERTY = "vmm.guestkit.src";
    private static final long MAKE_TIMEOUT_SECONDS = 300;

    private static GuestKit instance;
    private static String unavailable;

    private final Path sourceDir;
    private final Path outputDir;

    private GuestKit(Path sourceDir, Path outputDir) {
        this.sourceDir = sourceDir;
        this.outputDir = outputDir;
    }

    /**
     * The built kit. Throws {@link IllegalStateException} with the reason when it cannot be built
     * (sources not found, make or gcc missing, compile error); see {@link #unavailableReason()}.
     */
    public static synchronized GuestKit get() {
        if (instance != null) return instance;
        if (unavailable != null) throw new IllegalStateException(unavailable);
        try {
            Path src = locateSources();
            Path out = src.getParent().resolve("target").resolve("guest-kit");
            make(src, out);
            instance = new GuestKit(src, out);
            return instance;
        } catch (IOException | IllegalStateException e) {
            unavailable = "guest kit unavailable: " + e.getMessage();
            throw new IllegalStateException(unavailable, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building the guest kit", e);
        }
    }

    /** Why the kit cannot be built, or empty when it is (builds it on first call). */
    public static Optional<String> unavailableReason() {
        try {
            get();
            return Optional.empty();
        } catch (IllegalStateException e) {
            return Optional.of(e.getMessage());
        }
    }

    public Path sourceDir() { return sourceDir; }

    public Path outputDir() { return outputDir; }

    /** Path of a built image, e.g. {@code image("hello", Format.PVH)} is {@code .../hello.pvh.elf}. */
    public Path image(String guest, Format format) {
        if (!Files.isRegularFile(sourceDir.resolve("guests").resolve(guest + ".c")))
            throw new IllegalArgumentException("no such guest in the kit: " + guest);
        Path p = outputDir.resolve(guest + "." + format.suffix() + ".elf");
        if (!Files.isRegularFile(p)) throw new IllegalStateException("guest kit image missing after make: " + p);
        return p;
    }

    private static Path locateSources() throws IOException {
        String prop = System.getProperty(SOURCE_PROPERTY);
        if (prop != null) return requireMakefile(Path.of(prop).toAbsolutePath());
        // Surefire runs in the module directory (integration/); an IDE may use the repository root.
        Path cwd = Path.of("").toAbsolutePath();
        for (Path candidate : List.of(cwd.resolve("guest-kit"), cwd.resolve("integration").resolve("guest-kit"))) {
            if (Files.isRegularFile(candidate.resolve("Makefile"))) return candidate;
        }
        throw new IOException("integration/guest-kit not found from " + cwd + " (set -D" + SOURCE_PROPERTY + ")");
    }

    private static Path requireMakefile(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve("Makefile"))) throw new IOException("no Makefile in " + dir);
        return dir;
    }

    private static void make(Path src, Path out) throws IOException, InterruptedException {
        Files.createDirectories(out);
        Path log = Files.createTempFile("guest-kit-make", ".log");
        try {
            Process p;
            try {
                p = new ProcessBuilder("make", "-s", "-C", src.toString(), "OUT=" + out)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                        .start();
            } catch (IOException e) {
                throw new IOException("cannot run make (is it installed?): " + e.getMessage(), e);
            }
            if (!p.waitFor(MAKE_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("make did not finish within " + MAKE_TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new IOException("make -C " + src + " failed (status " + p.exitValue() + "):\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
