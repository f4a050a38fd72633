package dev.vmm.block.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server's handshake and request validation, driven byte by byte over a socket: options it
 * refuses, what it lists, and requests that must get an errno (not a dropped connection).
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdServerSessionTest {
    @TempDir Path tmp;
    private NbdTestSupport.Served served;
    private SocketChannel c;
    private MemoryDisk disk;

    @BeforeEach
    void start() throws IOException {
        disk = new MemoryDisk(1 << 20, false);
        served = new NbdTestSupport.Served(new NbdExport("ex", "the description", disk, false, true, true, false, true), tmp.resolve("s.sock"), 2);
        c = SocketChannel.open(UnixDomainSocketAddress.of(served.socket));
        ByteBuffer g = NbdIo.read(c, 18);
        assertThat(g.getLong()).isEqualTo(NBDMAGIC);
        assertThat(g.getLong()).isEqualTo(IHAVEOPT);
        assertThat(g.getShort() & 3).isEqualTo(3);
        NbdIo.writeFully(c, ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).flip());
    }

    @AfterEach
    void stop() throws Exception {
        c.close();
        served.close();
    }

    private List<NbdOptionReply> option(int opt, byte[] data) throws IOException {
        NbdIo.writeFully(c, new NbdOption(opt, data).encode());
        List<NbdOptionReply> replies = new ArrayList<>();
        while (true) {
            NbdOptionReply r = NbdOptionReply.read(c, opt);
            replies.add(r);
            if (r.type() == REP_ACK || r.isError()) return replies;
        }
    }

    @Test
    void listInfoAndMetaContexts() throws IOException {
        List<NbdOptionReply> list = option(OPT_LIST, new byte[0]);
        assertThat(list).hasSize(2);
        assertThat(list.get(0).type()).isEqualTo(REP_SERVER);
        assertThat(new String(list.get(0).data(), 4, 2, StandardCharsets.UTF_8)).isEqualTo("ex");

        List<NbdOptionReply> info = option(OPT_INFO, new NbdOption.ExportRequest("ex", List.of(INFO_DESCRIPTION, INFO_NAME)).encode());
        assertThat(info.getLast().type()).isEqualTo(REP_ACK);
        ByteBuffer export = ByteBuffer.wrap(info.get(0).data());
        assertThat(export.getShort()).isEqualTo((short) INFO_EXPORT);
        assertThat(export.getLong()).isEqualTo(1 << 20);
        int flags = export.getShort();
        assertThat(flags & (FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FLUSH | FLAG_SEND_FUA)).isNotZero();
        assertThat(info).anySatisfy(r -> assertThat(new String(r.data(), StandardCharsets.UTF_8)).endsWith("the description"));

        assertThat(option(OPT_INFO, new NbdOption.ExportRequest("other", List.of()).encode()).getLast().type()).isEqualTo(REP_ERR_UNKNOWN);

        List<NbdOptionReply> metas = option(OPT_LIST_META_CONTEXT, new NbdOption.MetaContextRequest("ex", List.of()).encode());
        assertThat(metas).extracting(r -> r.type() == REP_META_CONTEXT ? new String(r.data(), 4, r.data().length - 4, StandardCharsets.UTF_8) : "ACK")
                .containsExactly(BASE_ALLOCATION, QEMU_ALLOCATION_DEPTH, "ACK");
        // SET before structured replies is refused; after, it selects.
        assertThat(option(OPT_SET_META_CONTEXT, new NbdOption.MetaContextRequest("ex", List.of(BASE_ALLOCATION)).encode()).getLast().type())
                .isEqualTo(REP_ERR_INVALID);
        assertThat(option(OPT_STRUCTURED_REPLY, new byte[0]).getLast().type()).isEqualTo(REP_ACK);
        assertThat(option(OPT_SET_META_CONTEXT, new NbdOption.MetaContextRequest("ex", List.of(BASE_ALLOCATION, "x:y")).encode()))
                .hasSize(2);
    }

    @Test
    void refusedOptionsKeepTheConnection() throws IOException {
        assertThat(option(OPT_STARTTLS, new byte[0]).getLast().type()).isEqualTo(REP_ERR_POLICY);
        assertThat(option(1234, new byte[] {1, 2, 3}).getLast().type()).isEqualTo(REP_ERR_UNSUP);
        assertThat(option(OPT_GO, new byte[] {0, 0, 0, 9}).getLast().type()).isEqualTo(REP_ERR_INVALID); // name runs past the data
        assertThat(option(OPT_LIST, new byte[] {1}).getLast().type()).isEqualTo(REP_ERR_INVALID);
        assertThat(option(OPT_ABORT, new byte[0]).getLast().type()).isEqualTo(REP_ACK);
    }

    private void go() throws IOException {
        assertThat(option(OPT_STRUCTURED_REPLY, new byte[0]).getLast().type()).isEqualTo(REP_ACK);
        assertThat(option(OPT_SET_META_CONTEXT, new NbdOption.MetaContextRequest("ex", List.of(QEMU_ALLOCATION_DEPTH, BASE_ALLOCATION)).encode())).hasSize(3);
        assertThat(option(OPT_GO, new NbdOption.ExportRequest("ex", List.of()).encode()).getLast().type()).isEqualTo(REP_ACK);
    }

    /** Sends a request and returns the errno of its (single) reply chunk, 0 for success. */
    private int request(int flags, int type, long offset, long length, byte[] payload) throws IOException {
        NbdRequest r = new NbdRequest(flags, type, 42, offset, length);
        if (payload == null) NbdIo.writeFully(c, r.encode());
        else NbdIo.writeFully(c, r.encode(), ByteBuffer.wrap(payload));
        int errno = 0;
        while (true) {
            ByteBuffer m = NbdIo.read(c, 4);
            int magic = m.getInt();
            if (magic == SIMPLE_REPLY_MAGIC) {
                ByteBuffer b = NbdIo.read(c, 12);
                return b.getInt();
            }
            assertThat(magic).isEqualTo(STRUCTURED_REPLY_MAGIC);
            ByteBuffer h = NbdIo.read(c, 16);
            int f = h.getShort(), t = h.getShort();
            assertThat(h.getLong()).isEqualTo(42);
            ByteBuffer p = NbdIo.read(c, h.getInt());
            if ((t & REPLY_TYPE_FLAG_ERROR) != 0) errno = p.getInt();
            if ((f & REPLY_FLAG_DONE) != 0) return errno;
        }
    }

    @Test
    void badRequestsGetAnErrnoAndTheConnectionGoesOn() throws IOException {
        go();
        assertThat(request(0, CMD_READ, (1 << 20) - 10, 20, null)).isEqualTo(NbdErrno.EINVAL);
        assertThat(request(0, CMD_WRITE, (1 << 20) - 2, 4, new byte[4])).isEqualTo(NbdErrno.ENOSPC);
        assertThat(request(CMD_FLAG_NO_HOLE, CMD_READ, 0, 512, null)).isEqualTo(NbdErrno.EINVAL); // flag not for reads
        assertThat(request(0, 99, 0, 512, null)).isEqualTo(NbdErrno.EINVAL);
        assertThat(request(0, CMD_READ, 0, MAX_PAYLOAD + 1L, null)).isEqualTo(NbdErrno.EOVERFLOW);
        assertThat(request(0, CMD_FLUSH, 1, 0, null)).isEqualTo(NbdErrno.EINVAL);
        assertThat(request(0, CMD_BLOCK_STATUS, 0, 0, null)).isEqualTo(NbdErrno.EINVAL);
        // ...and good ones still work.
        assertThat(request(CMD_FLAG_FUA, CMD_WRITE, 8192, 4, new byte[] {9, 8, 7, 6})).isZero();
        assertThat(request(0, CMD_BLOCK_STATUS, 0, 65536, null)).isZero();
        assertThat(request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 0, 4096, null)).isZero();
        assertThat(request(0, CMD_CACHE, 0, 4096, null)).isZero();
        assertThat(disk.bytes[8192]).isEqualTo((byte) 9);
    }

    @Test
    void writePayloadTooLargeToSkipEndsTheConnection() throws IOException {
        go();
        NbdIo.writeFully(c, new NbdRequest(0, CMD_WRITE, 1, 0, 0xffff_fff0L).encode());
        ByteBuffer b = ByteBuffer.allocate(1);
        assertThat(c.read(b)).isEqualTo(-1);
    }
}
