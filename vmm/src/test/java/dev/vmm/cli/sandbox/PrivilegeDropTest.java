package dev.vmm.cli.sandbox;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code --run-as} and {@code --chroot} in child JVMs (a drop cannot be undone, so never in the test
 * JVM), checked from outside through /proc: while {@code vmm nbd --run-as nobody} serves, every
 * thread has uid and gid 65534 in all four slots, no permitted/effective/ambient capability and
 * no_new_privs, and qemu-img reads the export byte for byte through it; with {@code --chroot} the
 * process root is the prepared directory; {@code vmm img} works as nobody on a readable image with
 * the same output as root's. Needs root (to have something to drop) and qemu-img.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PrivilegeDropTest {
    static final int NOBODY = 65534;
    @TempDir Path tmp;
    Path shared;
    byte[] data;
    Path image;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(uidOf(ProcessHandle.current().pid()).equals(List.of("0", "0", "0", "0")), "needs root");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img is needed");
        // nobody must reach the pid file's directory; the image itself is opened before the drop
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
        shared = Files.createDirectory(tmp.resolve("shared"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxrwxrwx")));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        data = new byte[1 << 20];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 7 + (i >> 11));
        image = tmp.resolve("disk.raw");
        Files.write(image, data);
        Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
    }

    private Process vmm(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                "dev.vmm.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void awaitFile(Process p, Path file, Path log) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(file) || Files.size(file) == 0) {
            if (!p.isAlive()) assertThat(Files.readString(log)).as("vmm exited early").isEmpty();
            assertThat(System.nanoTime()).as("vmm did not get ready within 60 s").isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    private static List<String> field(Path status, String name) throws IOException {
        for (String l : Files.readAllLines(status)) {
            if (l.startsWith(name + ":")) return List.of(l.substring(name.length() + 1).trim().split("\\s+"));
        }
        throw new AssertionError(name + " not in " + status);
    }

    private static List<String> uidOf(long pid) throws IOException {
        return field(Path.of("/proc", Long.toString(pid), "status"), "Uid");
    }

    /** Every thread of {@code pid}: uid/gid nobody everywhere, no capabilities, no_new_privs. */
    private static int assertDropped(long pid, String seccomp) throws IOException {
        int threads = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                Path s = t.resolve("status");
                try {
                    assertThat(field(s, "Uid")).as(t + " Uid").containsOnly(Integer.toString(NOBODY)).hasSize(4);
                    assertThat(field(s, "Gid")).as(t + " Gid").containsOnly(Integer.toString(NOBODY)).hasSize(4);
                    assertThat(field(s, "Groups")).as(t + " Groups").containsOnly(Integer.toString(NOBODY));
                    for (String cap : List.of("CapPrm", "CapEff", "CapAmb")) assertThat(field(s, cap)).as(t + " " + cap).containsOnly("0000000000000000");
                    assertThat(field(s, "NoNewPrivs")).as(t + " NoNewPrivs").containsOnly("1");
                    assertThat(field(s, "Seccomp")).as(t + " Seccomp").containsOnly(seccomp);
                } catch (java.nio.file.NoSuchFileException threadEnded) {
                    continue;
                }
                threads++;
            }
        }
        return threads;
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
    }

    /** Serves as nobody (plus {@code extra} options), reads the export with qemu-img, stops; returns the process. */
    private void serveAsNobody(String seccomp, String... extra) throws Exception {
        Path sock = shared.resolve("nbd.sock"), pid = shared.resolve("nbd.pid"), log = tmp.resolve("nbd.log");
        List<String> args = new ArrayList<>(List.of("nbd", "--run-as", "nobody", "-t", "-r", "-f", "raw", "-k", sock.toString(),
                "--pid-file", pid.toString()));
        args.addAll(List.of(extra));
        args.add(image.toString());
        Process p = vmm(log, args.toArray(String[]::new));
        try {
            awaitFile(p, pid, log);
            assertThat(Files.readString(pid).trim()).isEqualTo(Long.toString(p.pid()));
            assertThat(assertDropped(p.pid(), seccomp)).as("threads checked").isGreaterThan(5);
            Path copy = tmp.resolve("copy.raw");
            run("qemu-img", "convert", "-f", "raw", "-O", "raw", "nbd+unix:///?socket=" + sock, copy.toString());
            assertThat(Files.readAllBytes(copy)).isEqualTo(data);
            assertDropped(p.pid(), seccomp); // threads started while serving inherited it all
            if (List.of(extra).contains("--chroot")) {
                Path root = Path.of(List.of(extra).get(List.of(extra).indexOf("--chroot") + 1));
                assertThat(Files.readSymbolicLink(Path.of("/proc", Long.toString(p.pid()), "root"))).isEqualTo(root);
            }
        } finally {
            p.destroy();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(p.exitValue()).as(Files.readString(log)).isEqualTo(143);
    }

    @Test
    void nbdServesAsNobodyWithoutCapabilities() throws Exception {
        // Seccomp 2 without --sandbox too: no_new_privs reaches every thread through an allow-all TSYNC filter
        serveAsNobody("2");
    }

    @Test
    void nbdServesAsNobodyUnderTheSandbox() throws Exception {
        serveAsNobody("2", "--sandbox", "on");
    }

    @Test
    void nbdServesFromAChroot() throws Exception {
        Path jail = Files.createDirectory(tmp.resolve("jail"));
        serveAsNobody("2", "--chroot", jail.toString(), "--sandbox", "on");
    }

    @Test
    void imgInfoAndMapAsNobodyMatchRoot() throws Exception {
        for (String sub : List.of("info", "map")) {
            Path asRoot = tmp.resolve(sub + "-root.log"), asNobody = tmp.resolve(sub + "-nobody.log");
            Process r = vmm(asRoot, "img", sub, "--output=json", "-f", "raw", image.toString());
            Process n = vmm(asNobody, "img", sub, "--output=json", "-f", "raw", "--run-as", "nobody", "--sandbox", "on", image.toString());
            assertThat(r.waitFor(60, TimeUnit.SECONDS) && n.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(r.exitValue()).as(Files.readString(asRoot)).isZero();
            assertThat(n.exitValue()).as(Files.readString(asNobody)).isZero();
            assertThat(Files.readString(asNobody)).isEqualTo(Files.readString(asRoot));
        }
    }

    /**
     * {@code vmm img convert --run-as nobody} (plus {@code extra}) from an NBD export whose reads
     * wait for the test: while the copy's first read waits, every thread of the converting process
     * is checked in /proc; then the copy completes and equals the source.
     */
    private void convertAsNobody(String... extra) throws Exception {
        Path sock = shared.resolve("src.sock"), out = shared.resolve("out.raw"), log = tmp.resolve("convert.log");
        java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1), release = new java.util.concurrent.CountDownLatch(1);
        try (dev.vmm.block.BlockDevice disk = dev.vmm.block.Images.open(image, dev.vmm.block.Images.Options.readOnlyDefaults().withFormat(dev.vmm.block.ImageFormat.RAW));
             dev.vmm.block.nbd.NbdServer server = new dev.vmm.block.nbd.NbdServer(java.net.UnixDomainSocketAddress.of(sock),
                     dev.vmm.block.nbd.NbdExport.of("", readsWaitFor(disk, reading, release)), 1, true, line -> { })) {
            Thread serving = Thread.ofPlatform().daemon().start(() -> {
                try { server.serve(); } catch (IOException ignored) { } // closed by the test
            });
            List<String> args = new ArrayList<>(List.of("img", "convert", "-q", "-f", "raw", "-O", "raw", "--run-as", "nobody"));
            args.addAll(List.of(extra));
            args.addAll(List.of("nbd+unix:///?socket=" + sock, out.toString()));
            Process p = vmm(log, args.toArray(String[]::new));
            try {
                if (!reading.await(60, TimeUnit.SECONDS)) assertThat(Files.readString(log)).as("no read within 60 s").isEmpty();
                assertThat(assertDropped(p.pid(), "2")).as("threads checked").isGreaterThan(5);
                if (List.of(extra).contains("--chroot")) {
                    Path root = Path.of(List.of(extra).get(List.of(extra).indexOf("--chroot") + 1));
                    assertThat(Files.readSymbolicLink(Path.of("/proc", Long.toString(p.pid()), "root"))).isEqualTo(root);
                }
            } finally {
                release.countDown();
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            }
            assertThat(p.exitValue()).as(Files.readString(log)).isZero();
            assertThat(Files.readAllBytes(out)).isEqualTo(data);
            server.close();
            serving.join(10_000);
        }
    }

    /** {@code disk} whose first read (by the NBD server, for the converting client) waits for {@code release}. */
    private static dev.vmm.block.BlockDevice readsWaitFor(dev.vmm.block.BlockDevice disk, java.util.concurrent.CountDownLatch reading,
                                                          java.util.concurrent.CountDownLatch release) {
        return (dev.vmm.block.BlockDevice) java.lang.reflect.Proxy.newProxyInstance(PrivilegeDropTest.class.getClassLoader(),
                new Class<?>[] {dev.vmm.block.BlockDevice.class}, (proxy, method, a) -> {
                    if (method.getName().equals("read")) {
                        reading.countDown();
                        if (!release.await(90, TimeUnit.SECONDS)) throw new IllegalStateException("not released");
                    }
                    try {
                        return method.invoke(disk, a);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Test
    void imgConvertCopiesAsNobodyOnEveryThread() throws Exception {
        convertAsNobody();
    }

    @Test
    void imgConvertCopiesFromAChrootUnderTheSandbox() throws Exception {
        Path jail = Files.createDirectory(tmp.resolve("jail"));
        convertAsNobody("--chroot", jail.toString(), "--sandbox", "on");
    }

    @Test
    void imgConvertWithAnUnknownUserCreatesNothing() throws Exception {
        Path out = shared.resolve("never.raw"), log = tmp.resolve("convert-bad.log");
        Process p = vmm(log, "img", "convert", "-f", "raw", "-O", "raw", "--run-as", "no-such-user-xyz", image.toString(), out.toString());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(Files.readString(log).strip()).isEqualTo("vmm img: --run-as: no user 'no-such-user-xyz'");
        assertThat(out).doesNotExist();
    }

    @Test
    void openingATapAfterTheDropIsRefusedInOneLine() throws Exception {
        // what a later netdev/device_add of a tap would run into: the message, not EPERM from TUNSETIFF
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                TapAfterDrop.class.getName(), "vmtdrop" + ProcessHandle.current().pid() % 10000).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).startsWith("REFUSED tap vmtdrop").contains("opening a tap needs privileges this process gave up (now user nobody)");
    }

    @Test
    void unknownUserIsOneLineAndNothingServes() throws Exception {
        Path log = tmp.resolve("bad.log");
        Process p = vmm(log, "nbd", "--run-as", "no-such-user-xyz", "-r", "-f", "raw", "-k", shared.resolve("x.sock").toString(), image.toString());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(1);
        assertThat(Files.readString(log).strip()).isEqualTo("vmm nbd: --run-as: no user 'no-such-user-xyz'");
    }
}
