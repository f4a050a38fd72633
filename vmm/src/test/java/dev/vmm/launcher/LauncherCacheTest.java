package dev.vmm.launcher;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The launcher's cache keying (launch.sh, find-jdk.sh, assemble.sh): the AOT cache is found
 * without forking a {@code stat} — keyed on the build id assemble.sh writes and on the JDK's
 * JAVA_RUNTIME_VERSION — is used when valid, and is neither used nor kept when the binary is newer
 * than the cache (a copy), when the JDK changes, or when the cache directory cannot be written;
 * and two starts at once train it once. Runs the real launcher scripts, assembled by the real
 * assemble.sh, around a tiny stand-in jar ({@code dev.vmm.Main} prints the {@code -XX:AOTCache}
 * option it was started with, {@code dev.vmm.aot.AotTraining} records that it ran), so each
 * training takes seconds instead of the real one's minute.
 */
class LauncherCacheTest {
    private static final Path LAUNCHER = Path.of("src/main/launcher").toAbsolutePath();
    private static final Duration TRAINING = Duration.ofMinutes(3);

    @TempDir
    static Path shared;
    private static Path jar;

    @BeforeAll
    static void standInJar() throws IOException {
        assumeTrue(Runtime.version().feature() >= 25, "the AOT cache needs JDK 25, this is " + Runtime.version());
        Path src = shared.resolve("src"), classes = shared.resolve("classes");
        Files.createDirectories(src.resolve("dev/vmm/aot"));
        Files.writeString(src.resolve("dev/vmm/Main.java"), """
                package dev.vmm;
                public class Main {
                    public static void main(String[] a) {
                        java.util.List<String> jvm = ProcessHandle.current().info().arguments().map(java.util.List::of).orElseThrow();
                        String aot = jvm.stream().filter(s -> s.startsWith("-XX:AOTCache=")).findFirst().orElse("none");
                        System.out.println("replay " + (jvm.contains("-XX:-AOTReplayTraining") ? "off" : "on")
                                + (jvm.contains("-Xint") ? " interpreted" : " jit"));
                        System.out.println("main " + String.join(" ", a) + " " + aot);
                    }
                }
                """);
        Files.writeString(src.resolve("dev/vmm/aot/AotTraining.java"), """
                package dev.vmm.aot;
                import java.nio.file.*;
                public class AotTraining {
                    public static void main(String[] a) throws Exception {
                        dev.vmm.Main.main(new String[] {"training"});
                        Files.writeString(Path.of(System.getenv("LAUNCHER_TEST_TRAININGS")), "trained\\n",
                                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    }
                }
                """);
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                src.resolve("dev/vmm/Main.java").toString(), src.resolve("dev/vmm/aot/AotTraining.java").toString());
        assertEquals(0, rc, "javac of the stand-in classes");
        jar = shared.resolve("stand-in.jar");
        try (JarOutputStream j = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(classes)) {
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                j.putNextEntry(new JarEntry(classes.relativize(f).toString()));
                Files.copy(f, j);
                j.closeEntry();
            }
        }
    }

    /** A launcher around the stand-in jar, assembled by assemble.sh into {@code dir/vmm}. */
    private static Path assemble(Path dir) throws Exception {
        Path out = dir.resolve("vmm");
        Process p = new ProcessBuilder("bash", LAUNCHER.resolve("assemble.sh").toString(), jar.toString(), out.toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "assemble.sh failed");
        return out;
    }

    private record Start(int status, String out) {
        /** The AOT cache the launcher passed to the JVM, or "none". */
        String aot() {
            String last = out.strip();
            return last.substring(last.lastIndexOf(' ') + 1).replace("-XX:AOTCache=", "");
        }
    }

    private static Process launch(Path binary, Path cache, Path jdk, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(binary.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.put("XDG_CACHE_HOME", cache.toString());
        env.put("VMM_JAVA_HOME", jdk.toString());
        env.put("LAUNCHER_TEST_TRAININGS", cache.resolveSibling(cache.getFileName() + ".trainings").toString());
        env.remove("VMM_JAVA_OPTS");
        return pb.start();
    }

    private static Start start(Path binary, Path cache, Path jdk) throws Exception {
        Process p = launch(binary, cache, jdk, "img", "info");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "launcher still running");
        Start s = new Start(p.exitValue(), out);
        assertEquals(0, s.status(), out);
        assertTrue(out.contains("main img info"), out);
        return s;
    }

    private static Path jdk() {
        return Path.of(System.getProperty("java.home"));
    }

    /** Waits until no training runs in {@code cache/vmm} (its lock directory is gone). */
    private static void awaitTraining(Path cache) throws Exception {
        long deadline = System.nanoTime() + TRAINING.toNanos();
        while (System.nanoTime() < deadline) {
            try (Stream<Path> s = Files.list(cache.resolve("vmm"))) {
                if (s.noneMatch(f -> f.getFileName().toString().endsWith(".aot.lock"))) return;
            }
            Thread.sleep(200);
        }
        fail("the AOT training did not end within " + TRAINING);
    }

    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    private static int trainings(Path cache) throws IOException {
        Path log = cache.resolveSibling(cache.getFileName() + ".trainings");
        return Files.exists(log) ? Files.readAllLines(log).size() : 0;
    }

    /** First start trains, the next uses the cache; the key is the build id and the JDK's runtime version. */
    private static Path trained(Path binary, Path cache, Path jdk) throws Exception {
        assertEquals("none", start(binary, cache, jdk).aot(), "no cache yet");
        awaitTraining(cache);
        Start s = start(binary, cache, jdk);
        assertTrue(s.aot().endsWith(".aot"), "the trained cache is passed: " + s.out());
        return Path.of(s.aot());
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void theCacheIsKeyedOnTheBuildAndTheJdkAndUsedOnceTrained(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        String header = new String(Files.readAllBytes(binary), 0, 100, StandardCharsets.ISO_8859_1);
        String build = header.lines().filter(l -> l.startsWith("vmm_build=")).findFirst().orElseThrow().substring(10);
        assertTrue(build.matches("[0-9a-f]{16}"), header);
        Path cache = dir.resolve("cache");
        Path aot = trained(binary, cache, jdk());
        assertEquals(cache.resolve("vmm/vmm-" + build + "-" + System.getProperty("java.runtime.version") + ".aot"), aot);
        assertEquals(1, trainings(cache));
        // The JVM really maps it and takes the stand-in's classes from it.
        Path log = dir.resolve("class-load.log");
        ProcessBuilder pb = new ProcessBuilder(binary.toString(), "img", "info").redirectErrorStream(true);
        pb.environment().put("XDG_CACHE_HOME", cache.toString());
        pb.environment().put("VMM_JAVA_HOME", jdk().toString());
        pb.environment().put("VMM_JAVA_OPTS", "-Xlog:class+load=info:file=" + log);
        Process q = pb.start();
        q.getInputStream().readAllBytes();
        assertTrue(q.waitFor(60, TimeUnit.SECONDS) && q.exitValue() == 0);
        assertTrue(Files.readString(log).contains("dev.vmm.Main source: shared objects file"), Files.readString(log));
        // Same content, assembled again: same build id, same cache name.
        Path again = assemble(Files.createDirectories(dir.resolve("again")));
        assertEquals(header.lines().toList().get(1),
                new String(Files.readAllBytes(again), 0, 100, StandardCharsets.ISO_8859_1).lines().toList().get(1));
        assertEquals(1, trainings(cache), "no training while the cache is valid");
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aCopiedBinaryNewerThanTheCacheRetrainsItAndThenUsesIt(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        Path cache = dir.resolve("cache");
        Path aot = trained(binary, cache, jdk());
        Path copy = Files.copy(binary, Files.createDirectories(dir.resolve("copy")).resolve("vmm"));
        Files.setLastModifiedTime(copy, FileTime.from(Files.getLastModifiedTime(aot).toInstant().plusSeconds(2)));
        assertEquals("none", start(copy, cache, jdk()).aot(), "a cache older than the binary is not used");
        awaitTraining(cache);
        assertEquals(2, trainings(cache), "the copy's start trained the cache again");
        assertFalse(Files.getLastModifiedTime(aot).compareTo(Files.getLastModifiedTime(copy)) < 0, "the new cache is not older than the copy");
        assertEquals(aot.toString(), start(copy, cache, jdk()).aot());
        assertEquals(2, trainings(cache));
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aBinaryDatedInTheFutureTrainsOnceNotAtEveryStart(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        FileTime future = FileTime.from(Instant.now().plus(Duration.ofDays(1)));
        Files.setLastModifiedTime(binary, future);
        Path cache = dir.resolve("cache");
        Path aot = trained(binary, cache, jdk());
        assertEquals(future, Files.getLastModifiedTime(aot), "the cache takes the binary's time");
        assertEquals(aot.toString(), start(binary, cache, jdk()).aot());
        assertEquals(1, trainings(cache));
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void anotherJdkRuntimeVersionGetsItsOwnCacheAndDropsTheOldOne(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        Path cache = dir.resolve("cache");
        Path old = trained(binary, cache, jdk());
        // The "updated" JDK: the same JVM (bin/java links to it) with another JAVA_RUNTIME_VERSION.
        Path updated = Files.createDirectories(dir.resolve("jdk-updated/bin"));
        Files.createSymbolicLink(updated.resolve("java"), jdk().resolve("bin/java"));
        String release = Files.readString(jdk().resolve("release"));
        String version = System.getProperty("java.runtime.version");
        assertTrue(release.contains("JAVA_RUNTIME_VERSION=\"" + version + "\""), release);
        Files.writeString(updated.resolveSibling("release"),
                release.replace("JAVA_RUNTIME_VERSION=\"" + version + "\"", "JAVA_RUNTIME_VERSION=\"" + version + ".1\""));
        Path jdk2 = updated.getParent();
        assertEquals("none", start(binary, cache, jdk2).aot(), "the old JDK's cache is not used");
        assertFalse(Files.exists(old), "the old JDK's cache is dropped");
        awaitTraining(cache);
        Path fresh = Path.of(start(binary, cache, jdk2).aot());
        assertEquals(cache.resolve("vmm").resolve(old.getFileName().toString().replace(version, version + ".1")), fresh);
        assertEquals(2, trainings(cache));
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void theShortCommandsRunWithoutTheProfileReplayOnJdk25Only(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        Path cache = dir.resolve("cache");
        String shortCommand = output(launch(binary, cache, jdk(), "img", "info"));
        String guestRun = output(launch(binary, cache, jdk(), "run", "--kernel", "k"));
        boolean jdk25 = Runtime.version().feature() == 25;
        assertTrue(shortCommand.startsWith(jdk25 ? "replay off interpreted" : "replay on interpreted"), shortCommand);
        assertTrue(guestRun.startsWith("replay on jit"), guestRun);
    }

    private static String output(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void anUnwritableCacheDirectoryMeansNoCacheAndNothingWrittenBesideTheBinary(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        List<String> before = files(dir);
        // /proc takes no new directory, not even from root (a chmod would not stop root).
        Path cache = Path.of("/proc/self/no-such-cache");
        Process p = launch(binary, cache, jdk(), "img", "info");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertEquals("main img info none", out.strip().lines().toList().getLast());
        assertEquals(before, files(dir), "the launcher writes nothing beside the binary");
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void startsAtOnceAllRunAndTrainTheCacheOnce(@TempDir Path dir) throws Exception {
        Path binary = assemble(dir);
        Path cache = dir.resolve("cache");
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 4; i++) ps.add(launch(binary, cache, jdk(), "img", "info"));
        for (Process p : ps) {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            assertTrue(out.contains("main img info "), out);
        }
        awaitTraining(cache);
        assertEquals(1, trainings(cache), "one training for starts at once");
        assertTrue(start(binary, cache, jdk()).aot().endsWith(".aot"));
        List<String> left = files(cache.resolve("vmm"));
        assertEquals(2, left.size(), "one cache and one CDS archive: " + left);
        assertEquals(1, left.stream().filter(f -> f.endsWith(".aot")).count(), left.toString());
        assertEquals(1, left.stream().filter(f -> f.endsWith(".jsa")).count(), left.toString());
    }
}
