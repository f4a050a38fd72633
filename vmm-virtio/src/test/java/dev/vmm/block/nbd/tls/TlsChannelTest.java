package dev.vmm.block.nbd.tls;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLException;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link TlsChannel} over a UNIX socket pair with the JDK's engines on both sides (the test-only
 * credentials of NbdFuzzTest): bytes arrive intact whatever the reader's buffer size (through the
 * record buffer or unwrapped in place), gathered writes, a TLS 1.3 key update in mid-stream,
 * close_notify and a raw end of stream (clean, mid-record, mid-handshake), garbage instead of TLS,
 * writes after close; and {@link TlsErrors}' one-line reasons.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TlsChannelTest {
    @TempDir Path tmp;
    private SocketChannel a, b;
    private int sockets;

    private static X509Credentials creds(X509Credentials.Endpoint e) throws Exception {
        return X509Credentials.load(Path.of(TlsChannelTest.class.getResource("/dev/vmm/block/nbd/tls-fuzz-creds").toURI()), e, false);
    }

    /** A connected pair of raw socket channels: {@link #a} (client side) and {@link #b}. */
    private void socketPair() throws IOException {
        close();
        Path path = tmp.resolve("t" + sockets++ + ".sock");
        try (ServerSocketChannel l = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            l.bind(UnixDomainSocketAddress.of(path));
            a = SocketChannel.open(UnixDomainSocketAddress.of(path));
            b = l.accept();
        }
    }

    @AfterEach
    void close() throws IOException {
        if (a != null) a.close();
        if (b != null) b.close();
    }

    /** Client and server channels after a completed handshake: [client, server]. */
    private TlsChannel[] pair() throws Exception {
        socketPair();
        X509Credentials server = creds(X509Credentials.Endpoint.SERVER), client = creds(X509Credentials.Endpoint.CLIENT);
        CompletableFuture<TlsChannel> s = CompletableFuture.supplyAsync(() -> {
            try {
                return TlsChannel.handshake(b, b, server.serverEngine());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        TlsChannel c = TlsChannel.handshake(a, a, client.clientEngine("localhost", 10809));
        return new TlsChannel[] {c, s.get(10, TimeUnit.SECONDS)};
    }

    private static byte[] readExactly(TlsChannel ch, int n, int chunk) throws IOException {
        byte[] out = new byte[n];
        int got = 0;
        while (got < n) {
            ByteBuffer buf = ByteBuffer.allocate(Math.min(chunk, n - got));
            int r = ch.read(buf);
            assertThat(r).as("bytes before the end").isPositive();
            System.arraycopy(buf.array(), 0, out, got, r);
            got += r;
        }
        return out;
    }

    private static byte[] random(int n, long seed) {
        byte[] d = new byte[n];
        new Random(seed).nextBytes(d);
        return d;
    }

    @Test
    void bytesArriveIntactThroughSmallAndLargeReadBuffers() throws Exception {
        TlsChannel[] p = pair();
        byte[] big = random(300_000, 1);
        CompletableFuture<Void> w = CompletableFuture.runAsync(() -> {
            try {
                p[0].write(ByteBuffer.wrap(big));
                p[0].write(new ByteBuffer[] {ByteBuffer.wrap(new byte[] {1, 2}), ByteBuffer.allocate(0), ByteBuffer.wrap(new byte[] {3})});
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        byte[] first = readExactly(p[1], 100_000, 7);             // small reads: the record buffer
        byte[] rest = readExactly(p[1], 200_000, 1 << 20);        // large reads: unwrapped in place
        assertThat(readExactly(p[1], 3, 100)).containsExactly(1, 2, 3);
        w.get(10, TimeUnit.SECONDS);
        byte[] all = new byte[300_000];
        System.arraycopy(first, 0, all, 0, first.length);
        System.arraycopy(rest, 0, all, first.length, rest.length);
        assertThat(all).isEqualTo(big);
        assertThat(p[1].read(ByteBuffer.allocate(0))).isZero();
        assertThat(p[0].engine().getSession().getProtocol()).isIn("TLSv1.3", "TLSv1.2");
    }

    @Test
    void aKeyUpdateMidStreamIsAnsweredAndDataFlowsBothWays() throws Exception {
        TlsChannel[] p = pair();
        org.junit.jupiter.api.Assumptions.assumeTrue(p[0].engine().getSession().getProtocol().equals("TLSv1.3"), "TLS 1.3 only");
        p[0].write(ByteBuffer.wrap(new byte[] {1}));
        assertThat(readExactly(p[1], 1, 10)).containsExactly(1);
        p[0].engine().beginHandshake();                          // TLS 1.3: a KeyUpdate asking for the peer's
        p[0].write(ByteBuffer.wrap(new byte[] {2, 3}));
        assertThat(readExactly(p[1], 2, 10)).containsExactly(2, 3);
        p[1].write(ByteBuffer.wrap(new byte[] {4, 5, 6}));
        assertThat(readExactly(p[0], 3, 1 << 20)).containsExactly(4, 5, 6);
        byte[] more = random(50_000, 2);
        p[1].write(ByteBuffer.wrap(more));
        assertThat(readExactly(p[0], more.length, 1 << 20)).isEqualTo(more);
    }

    @Test
    void closeNotifyEndsTheStreamAndWritesAfterCloseFail() throws Exception {
        TlsChannel[] p = pair();
        p[0].write(ByteBuffer.wrap(new byte[] {9}));
        p[0].close();
        p[0].close();
        assertThat(p[0].isOpen()).isFalse();
        assertThat(a.isOpen()).as("the raw channel is closed too").isFalse();
        assertThatThrownBy(() -> p[0].write(ByteBuffer.wrap(new byte[1]))).isInstanceOf(ClosedChannelException.class);
        assertThat(readExactly(p[1], 1, 10)).containsExactly(9);
        assertThat(p[1].read(ByteBuffer.allocate(10))).isEqualTo(-1);
        assertThat(p[1].read(ByteBuffer.allocate(10))).isEqualTo(-1);
        assertThat(p[1].isOpen()).isTrue();
    }

    @Test
    void aRawEndOfStreamBetweenRecordsIsTheEndAndInsideOneIsAnError() throws Exception {
        TlsChannel[] p = pair();
        a.shutdownOutput();                                       // no close_notify: a hard close
        assertThat(p[1].read(ByteBuffer.allocate(10))).isEqualTo(-1);

        TlsChannel[] q = pair();
        // Half an application-data record: a header announcing 256 bytes, then 10 of them.
        ByteBuffer half = ByteBuffer.allocate(15).put(new byte[] {0x17, 0x03, 0x03, 0x01, 0x00}).put(new byte[10]).flip();
        while (half.hasRemaining()) a.write(half);
        a.shutdownOutput();
        assertThatThrownBy(() -> q[1].read(ByteBuffer.allocate(10))).isInstanceOf(EOFException.class)
                .hasMessage("connection closed in the middle of a TLS record");
    }

    @Test
    void aPeerGoneOrNotSpeakingTlsEndsTheHandshake() throws Exception {
        socketPair();
        b.close();
        X509Credentials client = creds(X509Credentials.Endpoint.CLIENT);
        // The ClientHello is written; the answer is an end of stream.
        assertThatThrownBy(() -> TlsChannel.handshake(a, a, client.clientEngine("localhost", 1))).isInstanceOf(IOException.class);

        socketPair();
        ByteBuffer junk = ByteBuffer.wrap("NBDMAGIC and then some text that is not TLS at all\n".repeat(4).getBytes());
        while (junk.hasRemaining()) a.write(junk);
        X509Credentials server = creds(X509Credentials.Endpoint.SERVER);
        assertThatThrownBy(() -> TlsChannel.handshake(b, b, server.serverEngine())).isInstanceOf(SSLException.class)
                .satisfies(e -> assertThat(TlsErrors.oneLine((SSLException) e)).startsWith("the peer does not speak TLS ("));
    }

    @Test
    void aServerSeeingTheEndOfStreamMidHandshakeSaysSo() throws Exception {
        socketPair();
        a.shutdownOutput();
        X509Credentials server = creds(X509Credentials.Endpoint.SERVER);
        assertThatThrownBy(() -> TlsChannel.handshake(b, b, server.serverEngine())).isInstanceOf(EOFException.class)
                .hasMessage("peer closed the connection during the TLS handshake");
    }

    @Test
    void oneLineReasons() {
        assertThat(TlsErrors.oneLine(new SSLException("PKIX path building failed: x"))).startsWith("the peer's certificate is not signed by a CA in ca-cert.pem (PKIX");
        assertThat(TlsErrors.oneLine(new SSLException("unable to find valid certification path"))).startsWith("the peer's certificate is not signed");
        assertThat(TlsErrors.oneLine(new SSLException("No subject alternative DNS name matching x"))).startsWith("the server's certificate is not for this host name");
        assertThat(TlsErrors.oneLine(new SSLException("No name matching host"))).startsWith("the server's certificate is not for this host name");
        assertThat(TlsErrors.oneLine(new SSLException("Received fatal alert: certificate_required"))).startsWith("a client certificate is required");
        assertThat(TlsErrors.oneLine(new SSLException("Empty client certificate chain"))).startsWith("a client certificate is required");
        assertThat(TlsErrors.oneLine(new SSLException("Unsupported or unrecognized SSL message"))).startsWith("the peer does not speak TLS");
        assertThat(TlsErrors.oneLine(new SSLException("Unrecognized SSL message, plaintext connection?"))).startsWith("the peer does not speak TLS");
        assertThat(TlsErrors.oneLine(new SSLException("not an SSL/TLS record: 00"))).startsWith("the peer does not speak TLS");
        assertThat(TlsErrors.oneLine(new SSLException("certificate expired on x"))).startsWith("a certificate has expired");
        assertThat(TlsErrors.oneLine(new SSLException("NotAfter: x"))).startsWith("a certificate has expired");
        assertThat(TlsErrors.oneLine(new SSLException("something\n  else\tbroke"))).isEqualTo("something else broke");
        String longText = "y".repeat(250);
        assertThat(TlsErrors.oneLine(new SSLException(longText))).isEqualTo("y".repeat(200) + "...");
        assertThat(TlsErrors.oneLine(new SSLException("z".repeat(200)))).isEqualTo("z".repeat(200));
        assertThat(TlsErrors.oneLine(new SSLException((String) null))).isEqualTo("null");
    }

    @Test
    void credentialsServeOnlyTheirEndpoint() throws Exception {
        assertThatThrownBy(() -> creds(X509Credentials.Endpoint.CLIENT).serverEngine()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> creds(X509Credentials.Endpoint.SERVER).clientEngine("localhost", 1)).isInstanceOf(IllegalStateException.class);
        assertThat(creds(X509Credentials.Endpoint.SERVER).serverEngine().getNeedClientAuth()).isFalse();
        X509Credentials verifying = X509Credentials.load(creds(X509Credentials.Endpoint.SERVER).dir(), X509Credentials.Endpoint.SERVER, true);
        assertThat(verifying.serverEngine().getNeedClientAuth()).isTrue();
        assertThat(verifying.serverEngine().getEnabledProtocols()).containsExactlyInAnyOrder("TLSv1.3", "TLSv1.2");
        javax.net.ssl.SSLEngine named = creds(X509Credentials.Endpoint.CLIENT).clientEngine("localhost", 10809);
        assertThat(named.getSSLParameters().getEndpointIdentificationAlgorithm()).isEqualTo("HTTPS");
        assertThat(named.getPeerHost()).isEqualTo("localhost");
        assertThat(named.getUseClientMode()).isTrue();
        assertThat(creds(X509Credentials.Endpoint.CLIENT).clientEngine(null, -1).getSSLParameters().getEndpointIdentificationAlgorithm()).isNull();
    }
}
