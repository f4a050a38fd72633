package dev.vmm.block.nbd;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * A deliberately scriptable NBD server for the malformed-peer tests: written from the spec's byte
 * layouts directly (not with our codecs), so that it can say exactly the wrong thing.
 */
final class FakeNbdServer implements AutoCloseable {
    static final long SIZE = 1 << 20;

    interface Script { void run(SocketChannel c) throws Exception; }

    private final ServerSocketChannel listener;
    final Path socket;
    private final Thread thread;

    FakeNbdServer(Path socket, Script script) throws IOException {
        this.socket = socket;
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
        thread = Thread.ofPlatform().daemon().name("fake-nbd").start(() -> {
            try (SocketChannel c = listener.accept()) {
                script.run(c);
            } catch (Exception ignored) {
                // the client hung up on us: that is what these tests expect of it
            }
        });
    }

    NbdUri uri() { return NbdUri.parse("nbd+unix:///?socket=" + socket); }

    static void send(SocketChannel c, ByteBuffer b) throws IOException {
        b.flip();
        while (b.hasRemaining()) c.write(b);
    }

    static ByteBuffer read(SocketChannel c, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) if (c.read(b) < 0) throw new IOException("eof");
        return b.flip();
    }

    static void optionReply(SocketChannel c, int option, int type, byte[] data) throws IOException {
        send(c, ByteBuffer.allocate(20 + data.length).putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type).putInt(data.length).put(data));
    }

    /** Sends the greeting (fixed newstyle, no zeroes) and reads the client's flags. */
    static void greet(SocketChannel c) throws IOException {
        send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)));
        read(c, 4);
    }

    /** Reads the client's next option and returns its number (its data is read and dropped). */
    static int nextOption(SocketChannel c) throws IOException {
        ByteBuffer h = read(c, 16);
        h.getLong();
        int opt = h.getInt();
        read(c, h.getInt());
        return opt;
    }

    /** A correct handshake (structured replies, base:allocation as context 7, an export of SIZE bytes). */
    static void handshake(SocketChannel c) throws IOException {
        greet(c);
        while (true) {
            int opt = nextOption(c);
            switch (opt) {
                case OPT_STRUCTURED_REPLY -> optionReply(c, opt, REP_ACK, new byte[0]);
                case OPT_SET_META_CONTEXT -> {
                    byte[] name = BASE_ALLOCATION.getBytes();
                    optionReply(c, opt, REP_META_CONTEXT, ByteBuffer.allocate(4 + name.length).putInt(7).put(name).array());
                    optionReply(c, opt, REP_ACK, new byte[0]);
                }
                case OPT_GO -> {
                    optionReply(c, opt, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(SIZE)
                            .putShort((short) (FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES)).array());
                    optionReply(c, opt, REP_ACK, new byte[0]);
                    return;
                }
                default -> optionReply(c, opt, REP_ERR_UNSUP, new byte[0]);
            }
        }
    }

    /** Reads one request header: {type, cookie, offset, length}. */
    static long[] request(SocketChannel c) throws IOException {
        ByteBuffer r = read(c, 28);
        r.getInt();
        r.getShort();
        int type = r.getShort();
        long cookie = r.getLong(), offset = r.getLong(), length = Integer.toUnsignedLong(r.getInt());
        if (type == CMD_WRITE) read(c, (int) length);
        return new long[] {type, cookie, offset, length};
    }

    static ByteBuffer chunk(int flags, int type, long cookie, int length) {
        return ByteBuffer.allocate(20 + Math.max(0, length)).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putInt(length);
    }

    @Override
    public void close() throws Exception {
        listener.close();
        thread.join(5000);
        java.nio.file.Files.deleteIfExists(socket);
    }
}
