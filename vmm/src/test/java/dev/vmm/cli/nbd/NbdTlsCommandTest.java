package dev.vmm.cli.nbd;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.vmm.cli.nbd.NbdCommandTest.img;
import static dev.vmm.cli.nbd.NbdCommandTest.nbd;
import static dev.vmm.cli.nbd.NbdCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code vmm nbd --tls-creds} and {@code vmm img} with {@code nbds://} URIs, against QEMU's tools
 * with tls-creds-x509 objects, certificates made by openssl at test time (make-tls-certs.sh).
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdTlsCommandTest {
    @TempDir static Path creds;
    @TempDir Path tmp;

    @BeforeAll
    static void credentials() throws Exception {
        for (String t : List.of("qemu-img", "qemu-nbd", "openssl")) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin", t)), t + " not installed: test skipped");
        }
        Path script = creds.resolve("make-tls-certs.sh");
        try (InputStream in = NbdTlsCommandTest.class.getResourceAsStream("make-tls-certs.sh")) {
            Files.write(script, in.readAllBytes());
        }
        run("bash", script.toString(), creds.toString());
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void awaitTcp(int port, CompletableFuture<?> server) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            assertThat(server).as("server still running").isNotDone();
            try (SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                return;
            } catch (java.io.IOException notYet) {
                assertThat(System.nanoTime()).as("listening on " + port).isLessThan(deadline);
                Thread.sleep(20); // polling a condition under a deadline
            }
        }
    }

    @Test
    void vmmNbdWithTlsServesQemuImgAndRefusesPlainClients() throws Exception {
        Path image = tmp.resolve("d.raw");
        byte[] data = new byte[3 << 20];
        new Random(7).nextBytes(data);
        Files.write(image, data);
        int port = freePort();
        CompletableFuture<NbdCommandTest.Run> server = nbd("--bind", "127.0.0.1", "--port", Integer.toString(port), "--persistent", "--shared", "2",
                "--read-only", "--tls-creds", creds.resolve("server").toString(), image.toString());
        awaitTcp(port, server);
        String object = "tls-creds-x509,id=tls0,dir=" + creds.resolve("client") + ",endpoint=client";
        String opts = "driver=nbd,server.type=inet,server.host=localhost,server.port=" + port + ",tls-creds=tls0";
        Path out = tmp.resolve("out.raw");
        run("qemu-img", "convert", "--object", object, "--image-opts", "-O", "raw", opts, out.toString());
        assertThat(Files.readAllBytes(out)).isEqualTo(data);
        // A plain client is told that TLS is required.
        NbdCommandTest.Run plain = img("info", "nbd://localhost:" + port + "/");
        assertThat(plain.exit()).isNotZero();
        assertThat(plain.err()).contains("requires TLS").doesNotContain("\tat ");
        // Our own client over TLS: the same bytes as the image.
        NbdCommandTest.Run info = img("info", "--output=json", "nbds://localhost:" + port + "/?tls-creds=" + creds.resolve("client"));
        assertThat(info.exit()).as(info.err()).isZero();
        assertThat(info.out()).containsPattern("\"virtual-size\" ?: " + data.length);
        Path copy = tmp.resolve("copy.raw");
        NbdCommandTest.Run conv = img("convert", "-O", "raw", "nbds://localhost:" + port + "/?tls-creds=" + creds.resolve("client"), copy.toString());
        assertThat(conv.exit()).as(conv.err()).isZero();
        assertThat(Files.readAllBytes(copy)).isEqualTo(data);
        assertThat(server).isNotDone(); // persistent: left to its daemon thread, as in NbdCommandTest
    }

    @Test
    void vmmImgAgainstQemuNbdWithTls() throws Exception {
        Path image = tmp.resolve("q.raw");
        byte[] data = new byte[2 << 20];
        new Random(8).nextBytes(data);
        Files.write(image, data);
        Path sock = tmp.resolve("q.sock");
        Process q = new ProcessBuilder("qemu-nbd", "--object", "tls-creds-x509,id=tls0,dir=" + creds.resolve("server") + ",endpoint=server",
                "--tls-creds", "tls0", "-t", "-r", "-f", "raw", "-k", sock.toString(), image.toString()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve("qemu-nbd.log").toFile()).start();
        try {
            NbdCommandTest.awaitListening(sock);
            String uri = "nbds+unix:///?socket=" + sock + "&tls-hostname=localhost&tls-creds=";
            Path copy = tmp.resolve("copy.raw");
            NbdCommandTest.Run conv = img("convert", "-O", "raw", uri + creds.resolve("client"), copy.toString());
            assertThat(conv.exit()).as(conv.err()).isZero();
            assertThat(Files.readAllBytes(copy)).isEqualTo(data);
            NbdCommandTest.Run wrong = img("info", uri + creds.resolve("wrong-ca"));
            assertThat(wrong.exit()).isNotZero();
            assertThat(wrong.err().strip()).contains("not signed by a CA").doesNotContain("\n");
        } finally {
            q.destroy();
            if (!q.waitFor(10, TimeUnit.SECONDS)) q.destroyForcibly().waitFor();
        }
    }

    /**
     * The TLS handshake and record layer under the seccomp filter (in a child JVM: a filter cannot be
     * removed): the JDK's TLS must make no call the filter denies.
     */
    @Test
    void tlsUnderTheSandbox() throws Exception {
        Path image = tmp.resolve("s.raw");
        byte[] data = new byte[1 << 20];
        new Random(9).nextBytes(data);
        Files.write(image, data);
        Path sock = tmp.resolve("s.sock");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), "dev.vmm.Main", "nbd", "--sandbox", "on", "--tls-creds", creds.resolve("server").toString(),
                "-t", "-r", "-f", "raw", "-k", sock.toString(), "--pid-file", sock + ".pid", image.toString()))
                .redirectErrorStream(true).redirectOutput(tmp.resolve("sandboxed.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(Path.of(sock + ".pid"))) { // written once listening, with the filter on
                assertThat(p.isAlive()).as(Files.readString(tmp.resolve("sandboxed.log"))).isTrue();
                assertThat(System.nanoTime()).as("listening").isLessThan(deadline);
                Thread.sleep(20); // polling a condition under a deadline
            }
            Path out = tmp.resolve("s-copy.raw");
            run("qemu-img", "convert", "--object", "tls-creds-x509,id=tls0,dir=" + creds.resolve("client") + ",endpoint=client", "--image-opts",
                    "-O", "raw", "driver=nbd,server.type=unix,server.path=" + sock + ",tls-creds=tls0,tls-hostname=localhost", out.toString());
            assertThat(Files.readAllBytes(out)).isEqualTo(data);
            assertThat(p.isAlive()).as(Files.readString(tmp.resolve("sandboxed.log"))).isTrue();
        } finally {
            p.destroy();
            if (!p.waitFor(30, TimeUnit.SECONDS)) p.destroyForcibly().waitFor();
        }
        assertThat(p.exitValue()).as(Files.readString(tmp.resolve("sandboxed.log"))).isEqualTo(143); // SIGTERM, not SIGSYS
    }

    @Test
    void badCredentialsAreOneLineAndLeaveTheImageUnlocked() throws Exception {
        Path image = tmp.resolve("x.raw");
        Files.write(image, new byte[65536]);
        NbdCommandTest.Run r = nbd("--socket", tmp.resolve("x.sock").toString(), "--tls-creds", tmp.resolve("nowhere").toString(), image.toString())
                .get(30, TimeUnit.SECONDS);
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip()).isEqualTo("vmm nbd: TLS credentials directory " + tmp.resolve("nowhere") + " does not exist");
        NbdCommandTest.Run client = nbd("--socket", tmp.resolve("y.sock").toString(), "--tls-creds", creds.resolve("client").toString(), image.toString())
                .get(30, TimeUnit.SECONDS);
        assertThat(client.err().strip()).contains("server-cert.pem: no such file").doesNotContain("\n");
        NbdCommandTest.Run peer = nbd("--socket", tmp.resolve("z.sock").toString(), "--tls-verify-peer", "maybe", image.toString()).get(30, TimeUnit.SECONDS);
        assertThat(peer.err().strip()).isEqualTo("vmm nbd: --tls-verify-peer must be on or off");
    }
}
