package dev.vmm.ffm;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Checks Java layouts and constants against the system's C headers: generates a C program that
 * prints {@code sizeof}, {@code offsetof} and member sizes for every named member of every layout
 * (and the value of every constant), compiles it with gcc and returns what it printed, keyed the
 * same way {@link #expected} keys the Java side. Member names starting with {@code $} stand for
 * anonymous C unions and are left out of the C path.
 */
public final class CProbe {
    private final List<String> includes;
    private final StringBuilder body = new StringBuilder();
    private final Map<String, Long> expected = new LinkedHashMap<>();

    public CProbe(String... includes) {
        this.includes = List.of(includes);
    }

    /** Adds a struct (C name {@code struct <layout name>} unless {@code cType} is given). */
    public CProbe struct(GroupLayout layout) {
        return struct("struct " + layout.name().orElseThrow(), layout);
    }

    public CProbe struct(String cType, GroupLayout layout) {
        String key = cType;
        line(key + " size", "sizeof(" + cType + ")", layout.byteSize());
        members(cType, key, "", layout, 0);
        return this;
    }

    private void members(String cType, String key, String cPath, GroupLayout group, long base) {
        long off = 0;
        for (MemoryLayout m : group.memberLayouts()) {
            long memberOff = group instanceof java.lang.foreign.StructLayout ? off : 0;
            if (!(m instanceof PaddingLayout) && m.name().isPresent()) {
                String n = m.name().get();
                String path = n.startsWith("$") ? cPath : (cPath.isEmpty() ? n : cPath + "." + n);
                if (!n.startsWith("$")) {
                    line(key + "." + path + " offset", "offsetof(" + cType + ", " + path + ")", base + memberOff);
                    line(key + "." + path + " size", "sizeof(((" + cType + " *)0)->" + path + ")", m.byteSize());
                }
                if (m instanceof GroupLayout g) members(cType, key, path, g, base + memberOff);
            }
            if (group instanceof java.lang.foreign.StructLayout) off += m.byteSize();
        }
    }

    /** Adds an integer constant (macro or enum) by its C name. */
    public CProbe constant(String name, long value) {
        line(name, "(long long)(" + name + ")", value);
        return this;
    }

    private void line(String key, String cExpr, long value) {
        body.append("  printf(\"%s=%lld\\n\", \"").append(key).append("\", (long long)(").append(cExpr).append("));\n");
        expected.put(key, value);
    }

    public Map<String, Long> expected() { return expected; }

    /** Compiles and runs the probe; returns key → value as C sees it. */
    public Map<String, Long> run() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("cprobe");
        try {
            StringBuilder src = new StringBuilder();
            src.append("#define _GNU_SOURCE\n#include <stdio.h>\n#include <stddef.h>\n");
            for (String inc : includes) src.append("#include <").append(inc).append(">\n");
            src.append("int main(void) {\n").append(body).append("  return 0;\n}\n");
            Path c = dir.resolve("probe.c");
            Files.writeString(c, src);
            Path exe = dir.resolve("probe");
            String compileOut = exec(List.of("gcc", "-o", exe.toString(), c.toString()));
            if (!Files.isExecutable(exe)) throw new IllegalStateException("probe did not compile:\n" + compileOut);
            Map<String, Long> out = new LinkedHashMap<>();
            for (String l : exec(List.of(exe.toString())).split("\n")) {
                int eq = l.lastIndexOf('=');
                if (eq > 0) out.put(l.substring(0, eq), Long.parseLong(l.substring(eq + 1)));
            }
            return out;
        } finally {
            try (var s = Files.walk(dir)) {
                s.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Whether gcc is on the PATH (the probe tests need it). */
    public static boolean gccAvailable() {
        try {
            exec(List.of("gcc", "--version"));
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private static String exec(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(new ArrayList<>(cmd)).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        return new String(out, StandardCharsets.UTF_8);
    }
}
