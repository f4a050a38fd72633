package dev.vmm.cli.nbd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code vmm nbd} (run in process) served to QEMU's tools, and {@code vmm img} with NBD URIs
 * against qemu-nbd and nbdkit. QEMU is the reference for every byte and every map entry.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdCommandTest {
    @TempDir Path tmp;
    private final List<Process> processes = new ArrayList<>();

    record Run(int exit, String out, String err) {}

    @BeforeEach
    void tools() {
        for (String t : List.of("qemu-img", "qemu-io", "qemu-nbd")) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin", t)), t + " not installed (apt-get install qemu-utils): test skipped");
        }
    }

    @AfterEach
    void stop() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
        }
    }

    /** {@code vmm img ARGS} with its default {@code --sandbox on}, in a child JVM ({@link dev.vmm.cli.sandbox.ImgHost}). */
    static Run img(String... args) {
        dev.vmm.cli.sandbox.ImgHost.Run r = dev.vmm.cli.sandbox.ImgHost.img(args);
        return new Run(r.exit(), r.out(), r.err());
    }

    /**
     * {@code vmm nbd --sandbox off ARGS} on its own thread of this JVM; completes with its exit code.
     * In process, so without the filter (its default on would kill this JVM's next qemu-img);
     * SandboxedNbdTest serves with the default in a child JVM.
     */
    static CompletableFuture<Run> nbd(String... given) {
        List<String> withOff = new java.util.ArrayList<>(List.of(given));
        if (!withOff.contains("--sandbox")) withOff.addAll(0, List.of("--sandbox", "off"));
        String[] args = withOff.toArray(String[]::new);
        CompletableFuture<Run> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("vmm-nbd-under-test").start(() -> {
            StringWriter out = new StringWriter(), err = new StringWriter();
            CommandLine cl = new CommandLine(new NbdCommand());
            cl.setOut(new PrintWriter(out));
            cl.setErr(new PrintWriter(err));
            try {
                int rc = cl.execute(args);
                f.complete(new Run(rc, out.toString(), err.toString()));
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    static String run(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    return e.toString();
                }
            });
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("finished: " + String.join(" ", cmd)).isTrue();
            String o = out.get(10, TimeUnit.SECONDS);
            assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + o).isZero();
            return o;
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Waits (under a deadline) until a UNIX socket accepts connections. */
    static void awaitListening(Path socket) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            if (Files.exists(socket)) {
                try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                    return;
                } catch (IOException notYet) {
                    // not accepting yet
                }
            }
            assertThat(System.nanoTime()).as("listening on " + socket).isLessThan(deadline);
            Thread.sleep(20); // polling a condition under a deadline
        }
    }

    private Path qcow2WithBacking() {
        Path base = tmp.resolve("base.raw");
        run("qemu-img", "create", "-f", "raw", base.toString(), "4M");
        run("qemu-io", "-f", "raw", "-c", "write -P 0x33 0 1M", "-c", "write -P 0x44 3M 512k", base.toString());
        Path top = tmp.resolve("top.qcow2");
        run("qemu-img", "create", "-f", "qcow2", "-b", base.toString(), "-F", "raw", top.toString());
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x55 512k 1M", "-c", "write -z 3200k 64k", top.toString());
        return top;
    }

    @Test
    void servesQcow2WithBackingToQemuImgAndExitsAfterTheLastClient() throws Exception {
        Path top = qcow2WithBacking();
        Path ref = tmp.resolve("ref.raw");
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", top.toString(), ref.toString());
        Path sock = tmp.resolve("n.sock"), pid = tmp.resolve("nbd.pid");
        CompletableFuture<Run> server = nbd("--socket", sock.toString(), "-f", "qcow2", "--export-name", "vm", "--pid-file", pid.toString(), top.toString());
        Path out = tmp.resolve("out.raw");
        // No probe connection: without --persistent the server ends when its first client leaves.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(pid)) {
            assertThat(System.nanoTime()).isLessThan(deadline);
            Thread.sleep(20);
        }
        assertThat(Files.readString(pid).trim()).isEqualTo(Long.toString(ProcessHandle.current().pid()));
        run("qemu-img", "convert", "-f", "raw", "-O", "raw", "nbd+unix:///vm?socket=" + sock, out.toString());
        Run r = server.get(30, TimeUnit.SECONDS);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(ref));
        assertThat(Files.exists(pid)).as("pid file removed at exit").isFalse();
        // The image was closed (unlocked): qemu-img can check it without -U.
        run("qemu-img", "check", top.toString());
    }

    @Test
    void qemuImgMapOverNbdEqualsVmmImgMapOfTheFile() throws Exception {
        Path top = qcow2WithBacking();
        Path sock = tmp.resolve("m.sock");
        CompletableFuture<Run> server = nbd("--socket", sock.toString(), "--read-only", "--persistent", "--shared", "4", "--allocation-depth", top.toString());
        awaitListening(sock);
        try {
            List<String> overNbd = merged(run("qemu-img", "map", "--output=json", "-f", "raw", "nbd+unix:///?socket=" + sock));
            Run ours = img("map", "--output=json", top.toString());
            assertThat(ours.exit()).as(ours.err()).isZero();
            assertThat(overNbd).isEqualTo(merged(ours.out())).hasSizeGreaterThan(2);
            // And qemu-io reads back through the server what it wrote to the files.
            String io = run("qemu-io", "-f", "raw", "-r", "-c", "read -P 0x33 0 512k", "-c", "read -P 0x55 512k 1M",
                    "-c", "read -P 0 3200k 64k", "-c", "read -P 0x44 3264k 256k", "nbd+unix:///?socket=" + sock);
            assertThat(io).doesNotContain("Pattern verification failed");
        } finally {
            stopServer(sock, server);
        }
    }

    /**
     * A persistent in-process server has no signal to receive: it is left to its daemon thread (it
     * holds only a shared lock on an image in the test's temporary directory) and ends with the JVM.
     */
    private static void stopServer(Path sock, CompletableFuture<Run> server) {
        assertThat(server).as("a persistent server keeps running after its clients leave").isNotDone();
    }

    /** start+length:data/zero runs, merged where qemu-img and vmm img split differently. */
    static List<String> merged(String json) throws IOException {
        JsonNode arr = new ObjectMapper().readTree(json);
        List<String> out = new ArrayList<>();
        long start = -1, len = 0;
        boolean data = false, zero = false;
        for (JsonNode e : arr) {
            boolean d = e.get("data").asBoolean(), z = e.get("zero").asBoolean();
            if (start >= 0 && d == data && z == zero) {
                len += e.get("length").asLong();
                continue;
            }
            if (start >= 0) out.add(start + "+" + len + ":" + data + "/" + zero);
            start = e.get("start").asLong();
            len = e.get("length").asLong();
            data = d;
            zero = z;
        }
        if (start >= 0) out.add(start + "+" + len + ":" + data + "/" + zero);
        return out;
    }

    @Test
    void servesOverTcpToQemuIoWritingThroughIt() throws Exception {
        Path img = tmp.resolve("t.raw");
        byte[] data = new byte[2 << 20];
        new Random(5).nextBytes(data);
        Files.write(img, data);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        CompletableFuture<Run> server = nbd("--bind", "127.0.0.1", "--port", Integer.toString(port), "--discard", "unmap", img.toString());
        String uri = "nbd://127.0.0.1:" + port + "/";
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String io = null;
        while (io == null) {
            // qemu-io is the first and only client: retried until the server listens (deadline-bounded).
            Process p = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "write -P 0x99 1000 5000", "-c", "write -z 1M 64k",
                    "-c", "read -P 0x99 1000 5000", uri).redirectErrorStream(true).start();
            String o = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            if (p.exitValue() == 0 && !o.contains("Failed to connect")) io = o;
            else if (!o.contains("Failed to connect") && !o.contains("Connection refused")) throw new AssertionError(o);
            assertThat(System.nanoTime()).as(o).isLessThan(deadline);
        }
        assertThat(io).contains("wrote 5000/5000").doesNotContain("Pattern verification failed");
        assertThat(server.get(30, TimeUnit.SECONDS).exit()).isZero();
        java.util.Arrays.fill(data, 1000, 6000, (byte) 0x99);
        java.util.Arrays.fill(data, 1 << 20, (1 << 20) + 65536, (byte) 0);
        assertThat(Files.readAllBytes(img)).isEqualTo(data);
    }

    @Test
    void badOptionsAndMissingImageAreOneLineErrors() throws Exception {
        Run r = nbd("--socket", tmp.resolve("x.sock").toString(), tmp.resolve("missing.raw").toString()).get(30, TimeUnit.SECONDS);
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("vmm nbd: cannot open").doesNotContain("\n").doesNotContain("Exception");
        Run c = nbd("--cache", "bogus", "--socket", tmp.resolve("y.sock").toString(), "x").get(30, TimeUnit.SECONDS);
        assertThat(c.err()).contains("--cache must be");
        Path img = tmp.resolve("locked.raw");
        Files.write(img, new byte[65536]);
        Path sock = tmp.resolve("l.sock");
        Process qn = new ProcessBuilder("qemu-nbd", "-t", "-k", sock.toString(), "-f", "raw", img.toString()).start();
        processes.add(qn);
        awaitListening(sock);
        Run locked = nbd("--socket", tmp.resolve("z.sock").toString(), img.toString()).get(30, TimeUnit.SECONDS);
        assertThat(locked.exit()).isEqualTo(1);
        assertThat(locked.err()).contains("in use by another process");
    }

    @Test
    void diskOptionKeepsNbdUrisIntact() {
        // --disk hands the block layer a Path; the URI must survive that (and the key=value parsing).
        var tcp = dev.vmm.config.DiskSpec.parse("path=nbd://127.0.0.1:10900/vm%20disk?reconnect-delay=5,readonly=on");
        assertThat(dev.vmm.block.nbd.NbdUri.isNbd(tcp.path())).isTrue();
        assertThat(dev.vmm.block.nbd.NbdUri.fromPath(tcp.path()))
                .isEqualTo(new dev.vmm.block.nbd.NbdUri("127.0.0.1", 10900, null, "vm disk", 5));
        var unix = dev.vmm.config.DiskSpec.parse("path=nbd+unix:///e?socket=/run/n.sock");
        assertThat(dev.vmm.block.nbd.NbdUri.fromPath(unix.path()).socket()).isEqualTo(Path.of("/run/n.sock"));
        assertThat(dev.vmm.block.nbd.NbdUri.isNbd(dev.vmm.config.DiskSpec.parse("path=/images/nbd.raw").path())).isFalse();
    }

    // ---- vmm img with NBD URIs ----

    private String qemuNbd(String name, String... args) throws Exception {
        Path sock = tmp.resolve(name + ".sock");
        List<String> cmd = new ArrayList<>(List.of("qemu-nbd", "-t", "-e", "4", "-k", sock.toString()));
        cmd.addAll(List.of(args));
        processes.add(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve(name + ".log").toFile()).start());
        awaitListening(sock);
        return "nbd+unix:///?socket=" + sock;
    }

    @Test
    void vmmImgInfoConvertMapCheckFromQemuNbd() throws Exception {
        Path top = qcow2WithBacking();
        String uri = qemuNbd("src", "-r", "-f", "qcow2", top.toString());
        Run info = img("info", "--output=json", uri);
        assertThat(info.exit()).as(info.err()).isZero();
        JsonNode ours = new ObjectMapper().readTree(info.out());
        JsonNode q = new ObjectMapper().readTree(run("qemu-img", "info", "--output=json", uri));
        assertThat(ours.get("virtual-size")).isEqualTo(q.get("virtual-size"));
        assertThat(ours.get("format").asText()).isEqualTo(q.get("format").asText());
        Path out = tmp.resolve("conv.raw");
        Run conv = img("convert", "-O", "raw", uri, out.toString());
        assertThat(conv.exit()).as(conv.err()).isZero();
        Path ref = tmp.resolve("ref.raw");
        run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, ref.toString());
        assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(ref));
        Run map = img("map", "--output=json", uri);
        assertThat(map.exit()).as(map.err()).isZero();
        assertThat(merged(map.out())).isEqualTo(merged(run("qemu-img", "map", "--output=json", "-f", "raw", uri)));
        Run check = img("check", uri);
        assertThat(check.exit()).isEqualTo(63); // raw: no checks, as qemu-img
    }

    @Test
    void vmmImgConvertToAnNbdDestination() throws Exception {
        Path top = qcow2WithBacking();
        Path dst = tmp.resolve("dst.raw");
        byte[] junk = new byte[4 << 20];
        new Random(9).nextBytes(junk); // not empty: zero ranges of the source must be written as zeroes
        Files.write(dst, junk);
        String uri = qemuNbd("dst", "-f", "raw", dst.toString());
        Run conv = img("convert", "-O", "raw", top.toString(), uri);
        assertThat(conv.exit()).as(conv.err()).isZero();
        stop();
        processes.clear();
        run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", top.toString(), dst.toString());
        Run bad = img("convert", "-O", "qcow2", top.toString(), uri);
        assertThat(bad.exit()).isEqualTo(1);
        assertThat(bad.err()).contains("-O raw");
    }

    @Test
    void vmmImgReportsInjectedErrorsWithTheErrno() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/nbdkit")), "nbdkit not installed (apt-get install nbdkit): test skipped");
        Path sock = tmp.resolve("e.sock");
        processes.add(new ProcessBuilder("nbdkit", "-f", "-U", sock.toString(), "--filter=error", "memory", "1M",
                "error-pread=EIO", "error-pread-rate=1").redirectErrorStream(true).redirectOutput(tmp.resolve("e.log").toFile()).start());
        awaitListening(sock);
        Run conv = img("convert", "-O", "raw", "nbd+unix:///?socket=" + sock, tmp.resolve("o.raw").toString());
        // nbdkit's memory disk is all holes: make it read something by mapping it as data first.
        Run info = img("info", "nbd+unix:///?socket=" + sock);
        assertThat(info.exit()).as(info.err()).isZero();
        assertThat(info.out()).contains("virtual size: 1 MiB").contains("disk size: unavailable");
        Path sock2 = tmp.resolve("e2.sock");
        processes.add(new ProcessBuilder("nbdkit", "-f", "-U", sock2.toString(), "--filter=error", "--filter=noextents", "memory", "1M",
                "error-pread=EIO", "error-pread-rate=1").redirectErrorStream(true).redirectOutput(tmp.resolve("e2.log").toFile()).start());
        awaitListening(sock2);
        Run failed = img("convert", "-O", "raw", "nbd+unix:///?socket=" + sock2, tmp.resolve("o2.raw").toString());
        assertThat(failed.exit()).isEqualTo(1);
        assertThat(failed.err().strip()).contains("EIO").doesNotContain("\n").doesNotContain("Exception");
        assertThat(conv.exit()).as("an all-hole source needs no reads").isZero();
    }
}
