package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

import static dev.vmm.block.nbd.FakeNbdServer.*;
import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A server that lies (wrong magic, impossible lengths, unknown reply types, chunks outside the
 * request, replies nobody asked for) or goes silent: the client must fail with one clear message,
 * promptly, and never hang or throw anything but a {@link BlockException}.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MalformedNbdServerTest {
    @TempDir Path tmp;

    private BlockException openFails(Script script) throws Exception {
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("f.sock"), script)) {
            try {
                NbdBlockDevice.open(s.uri(), true).close();
            } catch (BlockException e) {
                return e;
            }
            throw new AssertionError("open succeeded");
        }
    }

    /** Handshake is right; the reply to the first read is {@code reply(cookie, offset, length)}. */
    private BlockException readFails(ReplyScript reply) throws Exception {
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("r.sock"), c -> {
            handshake(c);
            long[] r = request(c);
            reply.reply(c, r[1], r[2], r[3]);
            read(c, 1); // hold the connection until the client drops it
        }); NbdBlockDevice d = NbdBlockDevice.open(s.uri(), true)) {
            try {
                d.read(4096, MemorySegment.ofArray(new byte[8192]));
            } catch (BlockException e) {
                return e;
            }
            throw new AssertionError("read succeeded");
        }
    }

    interface ReplyScript { void reply(SocketChannel c, long cookie, long offset, long length) throws Exception; }

    @Test
    void wrongGreetingMagic() throws Exception {
        assertThat(openFails(c -> send(c, ByteBuffer.allocate(18).putLong(0x1122334455667788L).putLong(IHAVEOPT).putShort((short) 1))))
                .isInstanceOf(NbdProtocolException.class).hasMessageContaining("not an NBD server");
    }

    @Test
    void oldstyleServerRefused() throws Exception {
        assertThat(openFails(c -> send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(0x00420281861253L).putShort((short) 0))))
                .hasMessageContaining("oldstyle");
    }

    @Test
    void optionReplyWithWrongMagic() throws Exception {
        assertThat(openFails(c -> {
            send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) 3));
            read(c, 4 + 16);
            send(c, ByteBuffer.allocate(20).putLong(0xdeadbeefL).putInt(OPT_STRUCTURED_REPLY).putInt(REP_ACK).putInt(0));
        })).isInstanceOf(NbdProtocolException.class).hasMessageContaining("bad option reply magic");
    }

    @Test
    void oversizedOptionReplyIsRefusedBeforeAllocating() throws Exception {
        assertThat(openFails(c -> {
            send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) 3));
            read(c, 4 + 16);
            send(c, ByteBuffer.allocate(20).putLong(OPTION_REPLY_MAGIC).putInt(OPT_STRUCTURED_REPLY).putInt(REP_ACK).putInt(0xfffffff0));
        })).isInstanceOf(NbdProtocolException.class).hasMessageContaining("option reply of 4294967280 bytes");
    }

    @Test
    void replyToAnotherOption() throws Exception {
        assertThat(openFails(c -> {
            send(c, ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) 3));
            read(c, 4 + 16);
            optionReply(c, OPT_GO, REP_ACK, new byte[0]);
        })).hasMessageContaining("answered NBD_OPT_GO to NBD_OPT_STRUCTURED_REPLY");
    }

    @Test
    void silentServerTimesOutTheHandshake() throws Exception {
        long saved = NbdConnection.handshakeTimeoutMillis;
        NbdConnection.handshakeTimeoutMillis = 500;
        try {
            assertThat(openFails(c -> read(c, 1 << 20))).hasMessageContaining("did not complete the handshake");
        } finally {
            NbdConnection.handshakeTimeoutMillis = saved;
        }
    }

    @Test
    void serverClosingDuringHandshake() throws Exception {
        assertThat(openFails(c -> send(c, ByteBuffer.allocate(8).putLong(NBDMAGIC))))
                .hasMessageContaining("closed the connection during the handshake");
    }

    @Test
    void wrongReplyMagic() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> send(c, ByteBuffer.allocate(16).putInt(0x12345678).putInt(0).putLong(cookie))))
                .isInstanceOf(NbdProtocolException.class).hasMessageContaining("bad reply magic 0x12345678");
    }

    @Test
    void replyForACookieNobodySent() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> send(c, chunk(1, REPLY_TYPE_NONE, cookie + 1000, 0))))
                .hasMessageContaining("which no request has");
    }

    @Test
    void unknownNonErrorReplyType() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> send(c, chunk(1, 77, cookie, 0))))
                .hasMessageContaining("unknown reply type 77");
    }

    @Test
    void dataChunkOutsideTheRequest() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(1, REPLY_TYPE_OFFSET_DATA, cookie, 8 + 4096);
            b.putLong(off + len - 100).put(new byte[4096]);
            send(c, b);
        })).hasMessageContaining("outside the read");
    }

    @Test
    void oversizedDataChunkIsRefusedBeforeReadingIt() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            // Only the header and offset are sent: a client that believed the length would wait for 2 GiB.
            send(c, ByteBuffer.allocate(28).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) 1)
                    .putShort((short) REPLY_TYPE_OFFSET_DATA).putLong(cookie).putInt(0x7ffffff0).putLong(off));
        })).hasMessageContaining("outside the read");
    }

    @Test
    void holeChunkOutsideTheRequest() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(1, REPLY_TYPE_OFFSET_HOLE, cookie, 12);
            b.putLong(off - 4096).putInt(8192);
            send(c, b);
        })).hasMessageContaining("outside the read");
    }

    @Test
    void readNotFullyCovered() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(1, REPLY_TYPE_OFFSET_DATA, cookie, 8 + 100);
            b.putLong(off).put(new byte[100]);
            send(c, b);
        })).hasMessageContaining("answered with 100");
    }

    @Test
    void blockStatusChunkInReplyToARead() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(1, REPLY_TYPE_BLOCK_STATUS, cookie, 12);
            b.putInt(7).putInt(4096).putInt(0);
            send(c, b);
        })).hasMessageContaining("block status chunk in reply to read");
    }

    @Test
    void errorChunkWithLyingMessageLength() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(1, REPLY_TYPE_ERROR, cookie, 6);
            b.putInt(NbdErrno.EIO).putShort((short) 60000);
            send(c, b);
        })).hasMessageContaining("error chunk of 6 bytes with a 60000-byte message");
    }

    @Test
    void structuredErrorIsReportedWithErrnoAndMessage() throws Exception {
        BlockException e = readFails((c, cookie, off, len) -> {
            byte[] m = "disk on fire".getBytes();
            ByteBuffer b = chunk(1, REPLY_TYPE_ERROR, cookie, 6 + m.length);
            b.putInt(NbdErrno.EIO).putShort((short) m.length).put(m);
            send(c, b);
        });
        assertThat(e).isInstanceOf(NbdErrorException.class).hasMessageContaining("EIO").hasMessageContaining("disk on fire");
        assertThat(((NbdErrorException) e).errno()).isEqualTo(NbdErrno.EIO);
    }

    @Test
    void serverDyingMidReplyIsAClearError() throws Exception {
        assertThat(readFails((c, cookie, off, len) -> {
            ByteBuffer b = chunk(0, REPLY_TYPE_OFFSET_DATA, cookie, 8 + 8192);
            b.putLong(off).put(new byte[100]);
            b.limit(b.position());
            b.position(0);
            while (b.hasRemaining()) c.write(b);
            c.close();
        })).hasMessageContaining("connection");
    }

    @Test
    void blockStatusRepliesAreValidated() throws Exception {
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("b.sock"), c -> {
            handshake(c);
            long[] r = request(c);
            ByteBuffer b = chunk(1, REPLY_TYPE_BLOCK_STATUS, r[1], 12);
            b.putInt(8).putInt(4096).putInt(0); // context 8 was never selected (7 was)
            send(c, b);
            read(c, 1);
        }); NbdBlockDevice d = NbdBlockDevice.open(s.uri(), true)) {
            assertThatThrownBy(() -> d.status(0, 65536)).isInstanceOf(NbdProtocolException.class)
                    .hasMessageContaining("meta context 8, which was not selected");
        }
    }
}
