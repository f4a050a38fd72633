package dev.vmm.bench.xbzrle;

import dev.vmm.bench.xbzrle.XbzrleWorkload.PagePair;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Builds and drives the C reference implementation ({@code benchmarks/src/main/c/xbzrle_ref.c})
 * through its file-based driver: the interop test feeds it the same pages as the Java codec, the
 * benchmark harness times it on the benchmark inputs.
 */
public final class XbzrleReference {
    /** Where the C source is looked for, relative to the working directory (repo root or module). */
    private static final List<String> SOURCE_CANDIDATES = List.of(
            "benchmarks/src/main/c/xbzrle_ref.c", "src/main/c/xbzrle_ref.c");

    private final Path executable;
    private final Path workDir;

    private XbzrleReference(Path executable, Path workDir) {
        this.executable = executable;
        this.workDir = workDir;
    }

    /**
     * Compiles the driver into {@code workDir} with gcc ({@code -O2}, what distributions build QEMU
     * with; override with {@code -Dxbzrle.cflags=...}). Empty, with the reason, if gcc or the source
     * is missing.
     */
    public static Result build(Path workDir) throws IOException, InterruptedException {
        Optional<Path> source = locateSource();
        if (source.isEmpty()) return Result.unavailable("C source xbzrle_ref.c not found (set -Dxbzrle.ref.source)");
        Files.createDirectories(workDir);
        Path exe = workDir.resolve("xbzrle_ref");
        List<String> cmd = new ArrayList<>(List.of("gcc"));
        cmd.addAll(List.of(System.getProperty("xbzrle.cflags", "-O2").trim().split("\\s+")));
        cmd.addAll(List.of("-Wall", "-o", exe.toString(), source.get().toString()));
        Process gcc;
        try {
            gcc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return Result.unavailable("gcc not available: " + e.getMessage());
        }
        String log = new String(gcc.getInputStream().readAllBytes());
        if (!gcc.waitFor(120, TimeUnit.SECONDS)) {
            gcc.destroyForcibly();
            throw new IOException("gcc timed out");
        }
        if (gcc.exitValue() != 0) {
            throw new IOException("gcc failed: " + String.join(" ", cmd) + "\n" + log);
        }
        return new Result(Optional.of(new XbzrleReference(exe, workDir)), null);
    }

    /** The built reference, or the reason there is none (to skip tests with). */
    public record Result(Optional<XbzrleReference> reference, String unavailableReason) {
        static Result unavailable(String reason) { return new Result(Optional.empty(), reason); }
    }

    static Optional<Path> locateSource() {
        String configured = System.getProperty("xbzrle.ref.source");
        if (configured != null) return Optional.of(Path.of(configured)).filter(Files::isRegularFile);
        return SOURCE_CANDIDATES.stream().map(Path::of).filter(Files::isRegularFile).findFirst();
    }

    /** Encodes every pair with the C encoder: the delta, or null for overflow. */
    public List<byte[]> encode(List<PagePair> pairs) throws IOException, InterruptedException {
        byte[] out = runFiles("encode", input(pairs));
        List<byte[]> deltas = new ArrayList<>(pairs.size());
        try (DataInputStream data = new DataInputStream(new java.io.ByteArrayInputStream(out))) {
            for (int k = 0; k < pairs.size(); k++) {
                int n = Integer.reverseBytes(data.readInt());
                deltas.add(n < 0 ? null : data.readNBytes(n));
            }
        }
        return deltas;
    }

    /** Applies each delta to its page with the C decoder: the new page, or null if it was rejected. */
    public List<byte[]> decode(List<byte[]> deltas, List<byte[]> pages) throws IOException, InterruptedException {
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        for (int k = 0; k < deltas.size(); k++) {
            in.writeBytes(le32(pages.get(k).length));
            in.writeBytes(le32(deltas.get(k).length));
            in.writeBytes(deltas.get(k));
            in.writeBytes(pages.get(k));
        }
        byte[] out = runFiles("decode", in.toByteArray());
        List<byte[]> results = new ArrayList<>(deltas.size());
        try (DataInputStream data = new DataInputStream(new java.io.ByteArrayInputStream(out))) {
            for (byte[] page : pages) {
                int status = Integer.reverseBytes(data.readInt());
                byte[] decoded = data.readNBytes(page.length);
                results.add(status == 0 ? decoded : null);
            }
        }
        return results;
    }

    /**
     * C timings on {@code pairs}, ns per page: mean wall-clock time over the loop (comparable to a
     * JMH average) and the best thread CPU time of 100 ms samples (robust on a shared machine).
     */
    /** The C program's input for {@code pairs}: per pair its page size, limit, old page and new page. */
    private static byte[] input(List<PagePair> pairs) {
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        for (PagePair p : pairs) {
            in.writeBytes(le32(p.oldPage().length));
            in.writeBytes(le32(p.limit()));
            in.writeBytes(p.oldPage());
            in.writeBytes(p.newPage());
        }
        return in.toByteArray();
    }

    public record Timing(double encodeNsPerPage, double encodeCpuBestNs, double decodeNsPerPage, double decodeCpuBestNs) {}

    public Timing bench(List<PagePair> pairs, int minMillis) throws IOException, InterruptedException {
        Path input = Files.createTempFile(workDir, "bench", ".in");
        try {
            Files.write(input, input(pairs));
            String output = run(List.of(executable.toString(), "bench", input.toString(), Integer.toString(minMillis)));
            Map<String, String> values = new HashMap<>();
            output.lines().map(l -> l.split(" ", 2)).filter(kv -> kv.length == 2).forEach(kv -> values.put(kv[0], kv[1]));
            return new Timing(Double.parseDouble(values.get("encode_ns_per_page")),
                    Double.parseDouble(values.get("encode_cpu_best_ns_per_page")),
                    Double.parseDouble(values.get("decode_ns_per_page")),
                    Double.parseDouble(values.get("decode_cpu_best_ns_per_page")));
        } finally {
            Files.deleteIfExists(input);
        }
    }

    private byte[] runFiles(String command, byte[] input) throws IOException, InterruptedException {
        Path in = Files.createTempFile(workDir, command, ".in");
        Path out = Files.createTempFile(workDir, command, ".out");
        try {
            Files.write(in, input);
            run(List.of(executable.toString(), command, in.toString(), out.toString()));
            return Files.readAllBytes(out);
        } finally {
            Files.deleteIfExists(in);
            Files.deleteIfExists(out);
        }
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output;
        try (InputStream s = p.getInputStream()) {
            output = new String(s.readAllBytes());
        }
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " timed out");
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + "): " + output);
        }
        return output;
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }
}
