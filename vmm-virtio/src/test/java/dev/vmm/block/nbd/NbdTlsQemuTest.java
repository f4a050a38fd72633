package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.Images;
import dev.vmm.block.nbd.tls.X509Credentials;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static dev.vmm.block.nbd.NbdTestSupport.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * NBD over TLS against QEMU in both directions, with certificates made by openssl at test time:
 * qemu-img and qemu-io (tls-creds-x509, endpoint=client) against our server requiring TLS, over
 * TCP and a UNIX socket; our client against qemu-nbd with tls-creds-x509 endpoint=server. The
 * data must be byte-equal, a client without TLS or with the wrong CA or no certificate must be
 * refused with a clear message, and the server must go on serving others.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdTlsQemuTest {
    @TempDir static Path shared;
    static TlsTestCredentials creds;

    @TempDir Path tmp;

    @BeforeAll
    static void credentials() throws Exception {
        assume("qemu-img", "qemu-io", "qemu-nbd");
        creds = TlsTestCredentials.make(shared.resolve("creds"));
    }

    private static byte[] randomDisk(MemoryDisk d, long seed) {
        byte[] b = new byte[(int) d.size()];
        new Random(seed).nextBytes(b);
        java.util.Arrays.fill(b, b.length / 4, b.length / 2, (byte) 0); // a zero stretch: holes in structured reads
        d.write(0, MemorySegment.ofArray(b));
        return b;
    }

    private static X509Credentials serverCreds(boolean verifyPeer) {
        return X509Credentials.load(creds.server(), X509Credentials.Endpoint.SERVER, verifyPeer);
    }

    /** {@code TOOL SUB --object tls-creds-x509,... --image-opts ARGS...} where one of ARGS is the driver=nbd option string. */
    private static String[] qemu(String tool, String sub, Path clientDir, String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(tool));
        if (sub != null) cmd.add(sub);
        cmd.addAll(List.of("--object", TlsTestCredentials.object(clientDir, "client"), "--image-opts"));
        cmd.addAll(List.of(args));
        return cmd.toArray(String[]::new);
    }

    private static String tcp(Served s, String export) {
        return "driver=nbd,server.type=inet,server.host=localhost,server.port=" + s.port() + ",export=" + export + ",tls-creds=tls0";
    }

    private static String unix(Path socket, String export) {
        return "driver=nbd,server.type=unix,server.path=" + socket + ",export=" + export + ",tls-creds=tls0,tls-hostname=localhost";
    }

    private static byte[] bytes(MemoryDisk d) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(d.size());
            d.read(0, m);
            return m.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @Test
    void qemuImgAndQemuIoOverTlsTcpSeeOurExportByteEqual() throws Exception {
        MemoryDisk disk = new MemoryDisk(4 << 20, false);
        byte[] data = randomDisk(disk, 1);
        try (Served s = new Served(new NbdExport("disk", null, disk, false, false, false, false, true),
                new InetSocketAddress("127.0.0.1", 0), serverCreds(true), 4)) {
            Path out = tmp.resolve("out.raw");
            run(qemu("qemu-img", "convert", creds.client(), "-O", "raw", tcp(s, "disk"), out.toString()));
            assertThat(Files.readAllBytes(out)).isEqualTo(data);
            assertThat(run(qemu("qemu-img", "info", creds.client(), "--output=json", tcp(s, "disk")))).contains("\"virtual-size\": " + (4 << 20));
            run(qemu("qemu-io", null, creds.client(), tcp(s, "disk"), "-c", "write -P 0x5a 65536 131072", "-c", "read -P 0x5a 65536 131072"));
            java.util.Arrays.fill(data, 65536, 65536 + 131072, (byte) 0x5a);
            assertThat(bytes(disk)).isEqualTo(data);
            assertThat(s.log).isEmpty();
        }
    }

    @Test
    void qemuImgOverTlsUnixSocketIsByteEqual() throws Exception {
        MemoryDisk disk = new MemoryDisk(3 << 20, false);
        byte[] data = randomDisk(disk, 2);
        Path sock = tmp.resolve("tls.sock");
        try (Served s = new Served(new NbdExport("", null, disk, true, false, false, false, true), UnixDomainSocketAddress.of(sock), serverCreds(true), 1)) {
            Path out = tmp.resolve("out.raw");
            run(qemu("qemu-img", "convert", creds.client(), "-O", "raw", unix(sock, ""), out.toString()));
            assertThat(Files.readAllBytes(out)).isEqualTo(data);
        }
    }

    @Test
    void clientsWithoutTlsOrCertificateAreRefusedAndTheServerGoesOn() throws Exception {
        MemoryDisk disk = new MemoryDisk(1 << 20, false);
        randomDisk(disk, 3);
        try (Served s = new Served(NbdExport.of("disk", disk), new InetSocketAddress("127.0.0.1", 0), serverCreds(true), 1)) {
            Result plain = exec(List.of("qemu-img", "info", "nbd://localhost:" + s.port() + "/disk"));
            assertThat(plain.exit()).isNotZero();
            assertThat(plain.out()).contains("TLS");
            Result anon = exec(List.of(qemu("qemu-img", "info", creds.anon(), tcp(s, "disk"))));
            assertThat(anon.exit()).as(anon.out()).isNotZero();
            Result wrongCa = exec(List.of(qemu("qemu-img", "info", creds.wrongCa(), tcp(s, "disk"))));
            assertThat(wrongCa.exit()).as(wrongCa.out()).isNotZero();
            // One client at a time (--shared 1), and the refused ones have not used the slot up.
            assertThat(run(qemu("qemu-img", "info", creds.client(), "--output=json", tcp(s, "disk")))).contains("\"virtual-size\": " + (1 << 20));
            assertThat(s.log).anyMatch(l -> l.contains("TLS handshake with a client failed"));
        }
        // With verify-peer off, a client without a certificate is served (the server is still authenticated).
        try (Served s = new Served(NbdExport.of("disk", disk), new InetSocketAddress("127.0.0.1", 0), serverCreds(false), 1)) {
            assertThat(run(qemu("qemu-img", "info", creds.anon(), "--output=json", tcp(s, "disk")))).contains("\"virtual-size\": " + (1 << 20));
        }
    }

    /** qemu-nbd requiring TLS (tls-creds-x509 endpoint=server) on a TCP port, serving {@code image}. */
    private Process qemuNbd(Path image, int port, Path socket) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("qemu-nbd", "--object", TlsTestCredentials.object(creds.server(), "server"),
                "--tls-creds", "tls0", "-f", "raw", "-t", "-x", "disk"));
        if (socket != null) cmd.addAll(List.of("-k", socket.toString()));
        else cmd.addAll(List.of("-b", "127.0.0.1", "-p", Integer.toString(port)));
        cmd.add(image.toString());
        if (socket != null) return startServer(socket, cmd);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("qemu-nbd.log").toFile()).start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try (var c = java.nio.channels.SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                return p;
            } catch (java.io.IOException notYet) {
                assertThat(p.isAlive()).as("qemu-nbd running: " + Files.readString(tmp.resolve("qemu-nbd.log"))).isTrue();
                assertThat(System.nanoTime()).as("qemu-nbd listening").isLessThan(deadline);
                Thread.sleep(20); // polling a condition under a deadline
            }
        }
    }

    private static int freePort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void ourClientReadsAndWritesQemuNbdOverTls() throws Exception {
        Path img = tmp.resolve("q.raw");
        byte[] data = new byte[2 << 20];
        new Random(4).nextBytes(data);
        Files.write(img, data);
        int port = freePort();
        Process q = qemuNbd(img, port, null);
        try (BlockDevice d = Images.open(Path.of("nbds://localhost:" + port + "/disk?tls-creds=" + creds.client()), Images.Options.readWriteDefaults())) {
            byte[] got = new byte[data.length];
            d.read(0, MemorySegment.ofArray(got));
            assertThat(got).isEqualTo(data);
            byte[] w = new byte[8192];
            java.util.Arrays.fill(w, (byte) 0xc3);
            d.write(4096, MemorySegment.ofArray(w));
            d.flush();
            System.arraycopy(w, 0, data, 4096, w.length);
        } finally {
            stop(q);
        }
        assertThat(Files.readAllBytes(img)).isEqualTo(data);

        Path sock = tmp.resolve("q.sock");
        Process u = qemuNbd(img, 0, sock);
        try (BlockDevice d = Images.open(Path.of("nbds+unix:///disk?socket=" + sock + "&tls-hostname=localhost&tls-creds=" + creds.client()),
                Images.Options.readOnlyDefaults())) {
            byte[] got = new byte[data.length];
            d.read(0, MemorySegment.ofArray(got));
            assertThat(got).isEqualTo(data);
        } finally {
            stop(u);
        }
    }

    @Test
    void wrongCaOrNameOrNoTlsIsOneClearLine() throws Exception {
        Path img = tmp.resolve("q.raw");
        Files.write(img, new byte[1 << 20]);
        Path sock = tmp.resolve("q.sock");
        Process q = qemuNbd(img, 0, sock);
        try {
            String base = "nbds+unix:///disk?socket=" + sock + "&tls-creds=";
            assertThatThrownBy(() -> Images.open(Path.of(base + creds.wrongCa() + "&tls-hostname=localhost"), Images.Options.readOnlyDefaults()))
                    .isInstanceOf(BlockException.class).hasMessageContaining("not signed by a CA").hasMessageNotContaining("\n");
            assertThatThrownBy(() -> Images.open(Path.of(base + creds.client() + "&tls-hostname=elsewhere.example"), Images.Options.readOnlyDefaults()))
                    .isInstanceOf(BlockException.class).hasMessageContaining("not for this host name").hasMessageNotContaining("\n");
            assertThatThrownBy(() -> Images.open(Path.of("nbd+unix:///disk?socket=" + sock), Images.Options.readOnlyDefaults()))
                    .isInstanceOf(BlockException.class).hasMessageContaining("requires TLS").hasMessageNotContaining("\n");
            // qemu-nbd keeps serving: a correct client still gets in.
            try (BlockDevice d = Images.open(Path.of(base + creds.client() + "&tls-hostname=localhost"), Images.Options.readOnlyDefaults())) {
                assertThat(d.size()).isEqualTo(1 << 20);
            }
        } finally {
            stop(q);
        }
    }
}
