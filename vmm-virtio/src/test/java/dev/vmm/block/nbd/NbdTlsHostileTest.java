package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import dev.vmm.block.nbd.tls.TlsChannel;
import dev.vmm.block.nbd.tls.X509Credentials;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLEngine;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.block.nbd.FakeNbdServer.*;
import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The STARTTLS states against hostile or confused peers, byte by byte: our server in FORCEDTLS mode
 * (options before TLS, NBD_OPT_EXPORT_NAME without TLS, garbage or a cut-off handshake after the
 * ACK) and our client against a scripted server (refusal, garbage, silence, hang-up after the ACK).
 * Each must end in one clear error or a closed connection, never a hang, and the server must go on
 * serving the next client.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdTlsHostileTest {
    @TempDir static Path shared;
    static TlsTestCredentials creds;

    @TempDir Path tmp;
    private NbdTestSupport.Served served;
    private SocketChannel c;

    @BeforeAll
    static void credentials() throws Exception {
        creds = TlsTestCredentials.make(shared.resolve("creds"));
    }

    @BeforeEach
    void start() throws IOException {
        X509Credentials server = X509Credentials.load(creds.server(), X509Credentials.Endpoint.SERVER, true);
        served = new NbdTestSupport.Served(NbdExport.of("", new MemoryDisk(1 << 20, false)), UnixDomainSocketAddress.of(tmp.resolve("s.sock")), server, 1);
        c = SocketChannel.open(UnixDomainSocketAddress.of(served.socket));
        ByteBuffer g = NbdIo.read(c, 18);
        assertThat(g.getLong()).isEqualTo(NBDMAGIC);
        NbdIo.writeFully(c, ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).flip());
    }

    @AfterEach
    void stop() throws Exception {
        c.close();
        served.close();
    }

    private static List<NbdOptionReply> option(ByteChannel ch, int opt, byte[] data) throws IOException {
        NbdIo.writeFully(ch, new NbdOption(opt, data).encode());
        List<NbdOptionReply> replies = new ArrayList<>();
        while (true) {
            NbdOptionReply r = NbdOptionReply.read(ch, opt);
            replies.add(r);
            if (r.type() == REP_ACK || r.isError()) return replies;
        }
    }

    private String tlsUri() {
        return "nbds+unix:///?socket=" + served.socket + "&tls-hostname=localhost&tls-creds=" + creds.client();
    }

    /** After a broken client, the next one (ours, with TLS) is served: the slot was given back. */
    private void nextClientIsServed() throws IOException {
        try (NbdConnection ok = NbdConnection.open(NbdUri.parse(tlsUri()))) {
            assertThat(ok.negotiated().size()).isEqualTo(1 << 20);
        }
    }

    private void assertClosedByServer() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        try {
            while (c.read(b.clear()) >= 0) { /* drain what the server sent before it hung up */ }
        } catch (IOException reset) {
            // a reset is a close too
        }
    }

    @Test
    void optionsBeforeStartTlsGetTlsRequired() throws IOException {
        byte[] go = new NbdOption.ExportRequest("", List.of()).encode();
        for (int opt : new int[] {OPT_LIST, OPT_GO, OPT_INFO, OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT, 99}) {
            List<NbdOptionReply> r = option(c, opt, opt == OPT_GO || opt == OPT_INFO ? go : new byte[0]);
            assertThat(r).singleElement().extracting(NbdOptionReply::type).as(optionName(opt)).isEqualTo(REP_ERR_TLS_REQD);
        }
        assertThat(option(c, OPT_STARTTLS, new byte[] {1})).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ERR_INVALID);
        // NBD_OPT_EXPORT_NAME cannot be answered with an error: the server ends the session.
        NbdIo.writeFully(c, new NbdOption(OPT_EXPORT_NAME, new byte[0]).encode());
        assertClosedByServer();
        assertThat(served.log).anyMatch(l -> l.contains("without TLS"));
        nextClientIsServed();
    }

    @Test
    void afterStartTlsTheNegotiationRunsOverTls() throws IOException {
        assertThat(option(c, OPT_STARTTLS, new byte[0])).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ACK);
        X509Credentials client = X509Credentials.load(creds.client(), X509Credentials.Endpoint.CLIENT, true);
        TlsChannel t = TlsChannel.handshake(c, c, client.clientEngine("localhost", -1));
        assertThat(option(t, OPT_STARTTLS, new byte[0])).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ERR_INVALID);
        List<NbdOptionReply> list = option(t, OPT_LIST, new byte[0]);
        assertThat(list).extracting(NbdOptionReply::type).containsExactly(REP_SERVER, REP_ACK);
        List<NbdOptionReply> go = option(t, OPT_GO, new NbdOption.ExportRequest("", List.of()).encode());
        assertThat(go.getLast().type()).isEqualTo(REP_ACK);
        // A read in transmission (simple replies: structured ones were not asked for over TLS).
        NbdIo.writeFully(t, new NbdRequest(0, CMD_READ, 42, 0, 4096).encode());
        ByteBuffer reply = NbdIo.read(t, 16 + 4096);
        assertThat(reply.getInt()).isEqualTo(SIMPLE_REPLY_MAGIC);
        assertThat(reply.getInt()).isZero();
        assertThat(reply.getLong()).isEqualTo(42);
        NbdIo.writeFully(t, new NbdRequest(0, CMD_DISC, 43, 0, 0).encode());
        t.close();
    }

    @Test
    void garbageAfterStartTlsEndsThatConnectionOnly() throws IOException {
        assertThat(option(c, OPT_STARTTLS, new byte[0])).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ACK);
        byte[] garbage = new byte[600];
        new java.util.Random(5).nextBytes(garbage);
        NbdIo.writeFully(c, ByteBuffer.wrap(garbage));
        assertClosedByServer();
        assertThat(served.log).anyMatch(l -> l.startsWith("TLS handshake with a client failed"));
        nextClientIsServed();
    }

    @Test
    void truncatedHandshakeEndsThatConnectionOnly() throws IOException {
        assertThat(option(c, OPT_STARTTLS, new byte[0])).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ACK);
        // The first 60 bytes of a real ClientHello, then the client hangs up.
        SSLEngine e = X509Credentials.load(creds.client(), X509Credentials.Endpoint.CLIENT, true).clientEngine("localhost", -1);
        ByteBuffer hello = ByteBuffer.allocate(e.getSession().getPacketBufferSize());
        e.wrap(ByteBuffer.allocate(0), hello);
        hello.flip().limit(60);
        NbdIo.writeFully(c, hello);
        c.shutdownOutput();
        assertClosedByServer();
        nextClientIsServed();
    }

    @Test
    void clientStallingInTheTlsHandshakeIsDroppedAtTheHandshakeLimit() throws IOException {
        long saved = NbdServer.handshakeLimitMillis;
        NbdServer.handshakeLimitMillis = 500;
        try (SocketChannel stalled = SocketChannel.open(UnixDomainSocketAddress.of(served.socket))) {
            // The slot of the first client (c) is taken by it: close it, then stall in a new one.
            c.close();
            NbdIo.read(stalled, 18);
            NbdIo.writeFully(stalled, ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE).flip());
            assertThat(option(stalled, OPT_STARTTLS, new byte[0])).singleElement().extracting(NbdOptionReply::type).isEqualTo(REP_ACK);
            // ... and say nothing more: the server hangs up when the limit runs out.
            ByteBuffer b = ByteBuffer.allocate(1);
            int n;
            try {
                n = stalled.read(b);
            } catch (IOException reset) {
                n = -1;
            }
            assertThat(n).isEqualTo(-1);
            assertThat(served.log).anyMatch(l -> l.contains("did not complete the handshake within 500 ms"));
        } finally {
            NbdServer.handshakeLimitMillis = saved;
        }
        nextClientIsServed();
    }

    // ---- our client against a scripted server ----

    private BlockException clientFails(Script afterStartTls) throws Exception {
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("f.sock"), ch -> {
            send(ch, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) 3));
            read(ch, 4);
            ByteBuffer h = read(ch, 16);
            h.getLong();
            assertThat(h.getInt()).isEqualTo(OPT_STARTTLS); // the client's first option, before anything in clear
            afterStartTls.run(ch);
        })) {
            NbdUri u = NbdUri.parse("nbds+unix:///?socket=" + s.socket + "&tls-hostname=localhost&tls-creds=" + creds.client());
            try {
                NbdBlockDevice.open(u, true).close();
            } catch (BlockException e) {
                assertThat(e.getMessage()).doesNotContain("\n");
                return e;
            }
            throw new AssertionError("open succeeded");
        }
    }

    @Test
    void serverRefusingStartTlsIsNotFollowedInClear() throws Exception {
        assertThat(clientFails(ch -> optionReply(ch, OPT_STARTTLS, REP_ERR_POLICY, new byte[0])))
                .hasMessageContaining("server refused TLS").hasMessageContaining("refused by policy");
    }

    @Test
    void garbageInsteadOfTlsIsOneLine() throws Exception {
        assertThat(clientFails(ch -> {
            optionReply(ch, OPT_STARTTLS, REP_ACK, new byte[0]);
            send(ch, ByteBuffer.allocate(300).put("this is not TLS at all".repeat(13).getBytes()));
            read(ch, 1 << 20);
        })).hasMessageContaining("TLS handshake with").hasMessageContaining("failed");
    }

    @Test
    void hangUpAfterTheAckIsOneLine() throws Exception {
        // "closed the connection" or "Broken pipe", depending on whether our ClientHello was still being written.
        assertThat(clientFails(ch -> optionReply(ch, OPT_STARTTLS, REP_ACK, new byte[0])))
                .hasMessageContaining("during the handshake");
    }

    @Test
    void silenceAfterTheAckTimesOut() throws Exception {
        long saved = NbdConnection.handshakeTimeoutMillis;
        NbdConnection.handshakeTimeoutMillis = 500;
        try {
            assertThat(clientFails(ch -> {
                optionReply(ch, OPT_STARTTLS, REP_ACK, new byte[0]);
                read(ch, 1 << 20);
            })).hasMessageContaining("did not complete the handshake");
        } finally {
            NbdConnection.handshakeTimeoutMillis = saved;
        }
    }

    @Test
    void ackWithDataIsAProtocolError() throws Exception {
        assertThat(clientFails(ch -> optionReply(ch, OPT_STARTTLS, REP_ACK, new byte[] {1, 2})))
                .isInstanceOf(NbdProtocolException.class).hasMessageContaining("NBD_OPT_STARTTLS");
    }
}
