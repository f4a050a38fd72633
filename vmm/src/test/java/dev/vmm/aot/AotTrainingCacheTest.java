package dev.vmm.aot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The launcher's AOT cache is made by {@link AotTraining} under {@code -XX:AOTCacheOutput}: at the
 * end of the training the JVM forks a child that assembles the cache. Anything in the training that
 * installs a seccomp filter (img's default {@code --sandbox on}) makes that fork die of SIGSYS, and
 * the launcher silently falls back to the CDS archive (issue #19: that happened). This runs the
 * training exactly as the launcher does and requires the cache file.
 */
class AotTrainingCacheTest {
    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void theTrainingRunWritesTheCache(@TempDir Path dir) throws Exception {
        assumeTrue(Runtime.version().feature() >= 25, "the AOT cache needs JDK 25, this is " + Runtime.version());
        Path aot = dir.resolve("vmm.aot");
        Path log = dir.resolve("training.log");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-Xms16m", "-Xmx1g", "-Xss1m",
                "--enable-native-access=ALL-UNNAMED", "-XX:AOTCacheOutput=" + aot,
                "-cp", jarredClassPath(dir), AotTraining.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(9, TimeUnit.MINUTES), "training still running");
        int exit = p.exitValue();
        String out = Files.readString(log);
        assertEquals(0, exit, "training exit status (159 = SIGSYS: a seccomp filter in the training JVM)\n" + tail(out));
        assertTrue(Files.isRegularFile(aot) && Files.size(aot) > 0, "no AOT cache written\n" + tail(out));
    }

    /**
     * This test JVM's class path with every directory (target/classes of this module and of the
     * reactor's others) packed into a jar, as the launcher's single-file jar is: the JDK makes no AOT
     * cache from a class path with non-empty directories. Test classes are left out.
     */
    private static String jarredClassPath(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        int n = 0;
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(e);
            if (!Files.isDirectory(p)) {
                out.add(e);
            } else if (!p.getFileName().toString().equals("test-classes")) {
                Path jar = dir.resolve("cp-" + n++ + ".jar");
                try (JarOutputStream j = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(p)) {
                    for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                        j.putNextEntry(new JarEntry(p.relativize(f).toString().replace(File.separatorChar, '/')));
                        Files.copy(f, j);
                        j.closeEntry();
                    }
                }
                out.add(jar.toString());
            }
        }
        return String.join(File.pathSeparator, out);
    }

    private static String tail(String s) {
        return s.length() <= 4000 ? s : s.substring(s.length() - 4000);
    }
}
