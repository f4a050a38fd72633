package dev.vmm.block.nbd;

import dev.vmm.block.nbd.tls.TlsConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static dev.vmm.block.nbd.FakeNbdServer.*;
import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An {@link NbdConnection}'s life as the server sees it and as its callers see it: connecting to
 * nothing, a protocol violation failing every request in flight and every later one, a clean
 * close sending NBD_CMD_DISC (and a dead connection not), credentials checked before connecting.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdConnectionLifecycleTest {
    @TempDir Path tmp;

    private static Throwable failureOf(NbdConnection.Pending p) throws Exception {
        try {
            p.future().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("request completed");
    }

    @Test
    void nothingListeningIsAConnectionLoss() {
        NbdUri uri = NbdUri.parse("nbd+unix:///?socket=" + tmp.resolve("none.sock"));
        assertThatThrownBy(() -> NbdConnection.open(uri)).isInstanceOf(NbdConnection.ConnectionLost.class)
                .hasMessageStartingWith("cannot connect to " + uri + ": ");
    }

    @Test
    void credentialsAreCheckedBeforeConnecting() {
        NbdUri uri = NbdUri.parse("nbds+unix:///?socket=" + tmp.resolve("none.sock") + "&tls-creds=" + tmp.resolve("no-such-dir") + "&tls-hostname=h");
        assertThatThrownBy(() -> NbdConnection.open(uri)).isInstanceOf(TlsConfigException.class).hasMessageContaining("does not exist");
    }

    /** Whether the peer closed {@code c}: a read returns end of stream. */
    private static boolean closedByPeer(java.nio.channels.SocketChannel c) throws java.io.IOException {
        return c.read(ByteBuffer.allocate(64)) < 0;
    }

    @Test
    void aProtocolViolationFailsEveryRequestInFlightAndLater() throws Exception {
        java.util.concurrent.CompletableFuture<Boolean> hungUp = new java.util.concurrent.CompletableFuture<>();
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("v.sock"), c -> {
            handshake(c);
            request(c);
            request(c);
            send(c, chunk(REPLY_FLAG_DONE, 99, 12345, 0)); // no request has cookie 12345
            hungUp.complete(closedByPeer(c));
        })) {
            NbdConnection conn = NbdConnection.open(s.uri());
            NbdConnection.Pending a = conn.submit(CMD_READ, 0, 0, 512, null);
            NbdConnection.Pending b = conn.submit(CMD_WRITE, 0, 0, 3, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            for (Throwable t : new Throwable[] {failureOf(a), failureOf(b)}) {
                assertThat(t).isInstanceOf(java.io.IOException.class).isNotInstanceOf(NbdConnection.ConnectionLost.class);
                assertThat(t.getCause()).isInstanceOf(NbdProtocolException.class)
                        .hasMessage("NBD server broke the protocol: reply for cookie 12345, which no request has");
            }
            assertThat(conn.alive()).isFalse();
            assertThat(hungUp.get(10, TimeUnit.SECONDS)).as("the client closed the connection").isTrue();
            assertThatThrownBy(() -> conn.submit(CMD_FLUSH, 0, 0, 0, null)).isInstanceOf(NbdConnection.ConnectionLost.class)
                    .hasMessageContaining("sending flush failed").hasMessageContaining("broke the protocol");
            conn.close();
        }
    }

    @Test
    void closeSendsDisconnectAndFailsWhatIsInFlight() throws Exception {
        java.util.concurrent.CompletableFuture<long[]> seen = new java.util.concurrent.CompletableFuture<>();
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("c.sock"), c -> {
            handshake(c);
            request(c);                         // the read, never answered
            request(c);                         // the flush, never answered
            seen.complete(request(c));          // then NBD_CMD_DISC
            read(c, 1);                         // and hold the line until the client closes it
        })) {
            NbdConnection conn = NbdConnection.open(s.uri());
            assertThat(conn.negotiated().size()).isEqualTo(FakeNbdServer.SIZE);
            assertThat(conn.alive()).isTrue();
            NbdConnection.Pending read = conn.submit(CMD_READ, 0, 0, 512, null);
            assertThat(read.request().cookie()).isEqualTo(1);
            assertThat(conn.submit(CMD_FLUSH, 0, 0, 0, null).request().cookie()).as("cookies count up").isEqualTo(2);
            conn.close();
            assertThat(seen.get(10, TimeUnit.SECONDS)[0]).isEqualTo(CMD_DISC);
            assertThat(failureOf(read)).isInstanceOf(NbdConnection.ConnectionLost.class).hasMessage("connection closed");
            assertThat(conn.alive()).isFalse();
        }
    }

    @Test
    void theDisconnectRequestIsSentOnlyOnALiveConnection() throws Exception {
        java.util.concurrent.CompletableFuture<long[]> seen = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CompletableFuture<Boolean> hungUp = new java.util.concurrent.CompletableFuture<>();
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("d.sock"), c -> {
            handshake(c);
            seen.complete(request(c));
            hungUp.complete(closedByPeer(c));
        })) {
            NbdConnection conn = NbdConnection.open(s.uri());
            conn.close();
            assertThat(seen.get(10, TimeUnit.SECONDS)).containsExactly(CMD_DISC, 0, 0, 0);
            assertThat(hungUp.get(10, TimeUnit.SECONDS)).as("the socket is closed after NBD_CMD_DISC").isTrue();
            conn.close(); // again: nothing more is written, nothing thrown
            // From another thread too (the send lock is free again), promptly.
            java.util.concurrent.CompletableFuture<Throwable> other = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    conn.submit(CMD_READ, 0, 0, 1, null);
                    return null;
                } catch (java.io.IOException e) {
                    return e;
                }
            });
            assertThat(other.get(10, TimeUnit.SECONDS)).isInstanceOf(NbdConnection.ConnectionLost.class).hasMessage("connection closed");
        }
    }

    @Test
    void aFailedHandshakeClosesTheSocket() throws Exception {
        java.util.concurrent.CompletableFuture<Boolean> hungUp = new java.util.concurrent.CompletableFuture<>();
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("h.sock"), c -> {
            send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) 0)); // not fixed newstyle
            hungUp.complete(closedByPeer(c));
        })) {
            assertThatThrownBy(() -> NbdConnection.open(s.uri())).isInstanceOf(NbdProtocolException.class);
            assertThat(hungUp.get(10, TimeUnit.SECONDS)).isTrue();
        }
    }
}
