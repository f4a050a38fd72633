package dev.vmm.block.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link NbdServer}'s connection handling as a client sees it: the --shared limit (a further client
 * gets no greeting until a slot frees), a non-persistent server ending with its last client, the
 * handshake limit for a client that says nothing, TCP with a free port, the socket file's life.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdServerTest {
    @TempDir Path tmp;
    private final List<String> log = new CopyOnWriteArrayList<>();

    private NbdExport export() { return NbdExport.of("", new MemoryDisk(1 << 16, false)); }

    private Thread serve(NbdServer s) {
        return Thread.ofPlatform().daemon().name("nbd-server-test").start(() -> {
            try {
                s.serve();
            } catch (IOException e) {
                log.add("serve failed: " + e);
            }
        });
    }

    private static void greeted(SocketChannel c) throws IOException {
        ByteBuffer g = NbdIo.read(c, 18);
        assertThat(g.getLong()).isEqualTo(NBDMAGIC);
        assertThat(g.getLong()).isEqualTo(IHAVEOPT);
    }

    /** Whether {@code c} receives anything within {@code millis} (a bounded wait on a selector). */
    private static boolean readableWithin(SocketChannel c, long millis) throws IOException {
        c.configureBlocking(false);
        try (Selector sel = Selector.open()) {
            c.register(sel, SelectionKey.OP_READ);
            return sel.select(millis) > 0;
        } // closing the selector deregisters the channel, which may then block again
    }

    @Test
    void aFurtherClientWaitsForAFreeSlot() throws Exception {
        Path sock = tmp.resolve("s.sock");
        try (NbdServer s = new NbdServer(UnixDomainSocketAddress.of(sock), export(), 1, true, log::add)) {
            Thread t = serve(s);
            try (SocketChannel first = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                greeted(first);
                try (SocketChannel second = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                    assertThat(readableWithin(second, 500)).as("no greeting while the only slot is taken").isFalse();
                    first.close();
                    assertThat(readableWithin(second, 10_000)).as("greeting once the slot is free").isTrue();
                    second.configureBlocking(true);
                    greeted(second);
                }
            }
            s.close();
            t.join(10_000);
            assertThat(t.isAlive()).isFalse();
        }
        assertThat(Files.exists(sock)).as("the socket file is removed").isFalse();
        assertThat(log).isEmpty();
    }

    @Test
    void aServerThatIsNotPersistentEndsWithItsLastClient() throws Exception {
        Path sock = tmp.resolve("p.sock");
        Files.writeString(sock, "a stale file where the socket goes");
        NbdServer s = new NbdServer(UnixDomainSocketAddress.of(sock), export(), 2, false, log::add);
        Thread t = serve(s);
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
            greeted(c);
            NbdIo.writeFully(c, ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).flip(),
                    new NbdOption(OPT_ABORT, new byte[0]).encode());
            assertThat(NbdOptionReply.read(c, OPT_ABORT).type()).isEqualTo(REP_ACK);
        }
        t.join(10_000);
        assertThat(t.isAlive()).as("serve() returned after the last client").isFalse();
        assertThat(Files.exists(sock)).isFalse();
    }

    @Test
    void aClientThatSaysNothingIsDroppedAtTheHandshakeLimit() throws Exception {
        long saved = NbdServer.handshakeLimitMillis;
        NbdServer.handshakeLimitMillis = 300;
        Path sock = tmp.resolve("h.sock");
        try (NbdServer s = new NbdServer(UnixDomainSocketAddress.of(sock), export(), 1, true, log::add)) {
            serve(s);
            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                greeted(c);
                long t0 = System.nanoTime();
                assertThat(c.read(ByteBuffer.allocate(1))).isEqualTo(-1);
                assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(250));
            }
            assertThat(log).containsExactly("client did not complete the handshake within 300 ms: disconnected");
            // The slot is free again.
            try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                greeted(c);
            }
        } finally {
            NbdServer.handshakeLimitMillis = saved;
        }
    }

    @Test
    void tcpOnAFreePort() throws Exception {
        try (NbdServer s = new NbdServer(new InetSocketAddress("127.0.0.1", 0), export(), 1, true, log::add)) {
            serve(s);
            int port = ((InetSocketAddress) s.address()).getPort();
            assertThat(port).isPositive();
            try (SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                greeted(c);
            }
        }
    }

    @Test
    void atLeastOneSlot() {
        assertThatThrownBy(() -> new NbdServer(UnixDomainSocketAddress.of(tmp.resolve("x.sock")), export(), 0, true, log::add))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("--shared must be at least 1");
    }
}
