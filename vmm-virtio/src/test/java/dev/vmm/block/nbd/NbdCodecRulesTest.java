package dev.vmm.block.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The codecs' rules at their boundaries: which request a server must refuse with which errno
 * ({@link NbdRequest#check}, proto.md's "Request types" and error values), option and reply
 * framing limits, the structured payloads of INFO/GO and the meta-context options, and the
 * spec's string rules (UTF-8, no NUL, 4096 bytes). Encodings are compared with byte layouts
 * written out from the spec.
 */
@Timeout(10)
class NbdCodecRulesTest {
    private static final long SIZE = 1 << 20;
    private static final int RW = FLAG_HAS_FLAGS | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES, RO = FLAG_HAS_FLAGS | FLAG_READ_ONLY;

    private static int check(int flags, int type, long offset, long length, int tflags, boolean structured, int contexts) {
        return new NbdRequest(flags, type, 1, offset, length).check(SIZE, tflags, structured, contexts);
    }

    private static int check(int flags, int type, long offset, long length) { return check(flags, type, offset, length, RW, true, 1); }

    @Test
    void flagsPerCommand() {
        assertThat(check(0, 8, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_DF, CMD_READ, 0, 512)).isZero();
        assertThat(check(CMD_FLAG_DF, CMD_READ, 0, 512, RW, false, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_FUA, CMD_READ, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_FUA, CMD_WRITE, 0, 512)).isZero();
        assertThat(check(CMD_FLAG_NO_HOLE, CMD_WRITE, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 0, 512)).isZero();
        assertThat(check(CMD_FLAG_DF, CMD_WRITE_ZEROES, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_FUA, CMD_TRIM, 0, 512)).isZero();
        assertThat(check(CMD_FLAG_NO_HOLE, CMD_TRIM, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 0, 512)).isZero();
        assertThat(check(CMD_FLAG_FUA, CMD_BLOCK_STATUS, 0, 512)).isEqualTo(NbdErrno.EINVAL);
        for (int t : new int[] {CMD_FLUSH, CMD_CACHE, CMD_DISC}) assertThat(check(CMD_FLAG_FUA, t, 0, 0)).as("type %d", t).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(1 << 15, CMD_READ, 0, 512)).isEqualTo(NbdErrno.EINVAL);
    }

    @Test
    void readOnlyExportsRefuseWhatModifies() {
        for (int t : new int[] {CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES}) {
            assertThat(check(0, t, 0, 512, RO | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES, true, 1)).as("type %d", t).isEqualTo(NbdErrno.EPERM);
        }
        assertThat(check(0, CMD_READ, 0, 512, RO, true, 1)).isZero();
        assertThat(check(0, CMD_FLUSH, 0, 0, RO, true, 1)).isZero();
        assertThat(check(0, CMD_CACHE, 0, 512, RO, true, 1)).isZero();
    }

    @Test
    void commandsNeedTheirNegotiation() {
        assertThat(check(0, CMD_TRIM, 0, 512, FLAG_HAS_FLAGS | FLAG_SEND_WRITE_ZEROES, true, 1)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_WRITE_ZEROES, 0, 512, FLAG_HAS_FLAGS | FLAG_SEND_TRIM, true, 1)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_BLOCK_STATUS, 0, 512, RW, false, 1)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_BLOCK_STATUS, 0, 512, RW, true, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_BLOCK_STATUS, 0, 512, RW, true, 2)).isZero();
    }

    @Test
    void flushAndDisconnectCarryNoRange() {
        assertThat(check(0, CMD_FLUSH, 0, 0)).isZero();
        assertThat(check(0, CMD_FLUSH, 1, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_FLUSH, 0, 1)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_DISC, 5, 5)).isZero();
    }

    @Test
    void lengthsAndRanges() {
        long big = 64L << 20;
        assertThat(new NbdRequest(0, CMD_READ, 1, 0, MAX_PAYLOAD).check(big, RW, true, 1)).isZero();
        assertThat(new NbdRequest(0, CMD_READ, 1, 0, MAX_PAYLOAD + 1L).check(big, RW, true, 1)).isEqualTo(NbdErrno.EOVERFLOW);
        assertThat(new NbdRequest(0, CMD_WRITE, 1, 0, MAX_PAYLOAD + 1L).check(big, RW, true, 1)).isEqualTo(NbdErrno.EOVERFLOW);
        assertThat(new NbdRequest(0, CMD_TRIM, 1, 0, MAX_PAYLOAD + 1L).check(big, RW, true, 1)).isZero();
        assertThat(check(0, CMD_READ, 0, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_WRITE_ZEROES, 0, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_CACHE, SIZE, 0)).isZero();
        assertThat(check(0, CMD_BLOCK_STATUS, SIZE, 0)).isZero();
        assertThat(check(0, CMD_READ, SIZE - 512, 512)).isZero();
        assertThat(check(0, CMD_READ, SIZE - 511, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_TRIM, SIZE - 511, 512)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_WRITE, SIZE - 511, 512)).isEqualTo(NbdErrno.ENOSPC);
        assertThat(check(0, CMD_WRITE_ZEROES, SIZE - 511, 512)).isEqualTo(NbdErrno.ENOSPC);
        assertThat(check(0, CMD_CACHE, SIZE + 1, 0)).isEqualTo(NbdErrno.EINVAL);
        assertThat(check(0, CMD_READ, -512, 512)).isEqualTo(NbdErrno.EINVAL);   // an offset of 2^64 - 512 on the wire
        assertThat(check(0, CMD_WRITE, Long.MAX_VALUE, 512)).isEqualTo(NbdErrno.ENOSPC);
    }

    @Test
    void requestAndReplyLayouts() {
        NbdRequest r = new NbdRequest(CMD_FLAG_FUA, CMD_WRITE, 0x0102030405060708L, -2, 0xfffffffeL);
        byte[] wire = new WireBytes().request(CMD_FLAG_FUA, CMD_WRITE, 0x0102030405060708L, -2, 0xfffffffeL).bytes();
        assertThat(r.encode().array()).isEqualTo(wire);
        assertThat(NbdRequest.decode(ByteBuffer.wrap(wire))).isEqualTo(r);
        assertThatThrownBy(() -> NbdRequest.decode(ByteBuffer.wrap(new WireBytes().u32(0x25609514).raw(new byte[24]).bytes())))
                .isInstanceOf(NbdProtocolException.class).hasMessage("bad request magic 0x25609514");
        assertThat(new NbdReplyHeader.Simple(NbdErrno.EIO, 9).encode().array()).isEqualTo(new WireBytes().simple(NbdErrno.EIO, 9).bytes());
        NbdReplyHeader.Chunk c = new NbdReplyHeader.Chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR_OFFSET, 7, 0xffffffffL);
        assertThat(c.encode().array()).isEqualTo(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR_OFFSET, 7, 0xffffffffL).bytes());
        assertThat(c.done()).isTrue();
        assertThat(c.isError()).isTrue();
        assertThat(new NbdReplyHeader.Chunk(0, REPLY_TYPE_OFFSET_HOLE, 7, 12).isError()).isFalse();
        assertThat(new NbdReplyHeader.Chunk(2, REPLY_TYPE_OFFSET_HOLE, 7, 12).done()).isFalse();
    }

    @Test
    void optionFraming() throws IOException {
        byte[] max = new byte[MAX_OPTION_LENGTH];
        NbdOption o = NbdOption.read(new ScriptedChannel(new WireBytes().option(OPT_GO, max).bytes()));
        assertThat(o.option()).isEqualTo(OPT_GO);
        assertThat(o.data()).hasSize(MAX_OPTION_LENGTH);
        assertThatThrownBy(() -> NbdOption.read(new ScriptedChannel(new WireBytes().u64(IHAVEOPT).u32(OPT_GO).u32(MAX_OPTION_LENGTH + 1).bytes())))
                .hasMessage("NBD_OPT_GO has 65537 bytes of data (at most 65536)");
        assertThatThrownBy(() -> NbdOption.read(new ScriptedChannel(new WireBytes().u64(IHAVEOPT + 1).u32(OPT_GO).u32(0).bytes())))
                .hasMessageContaining("bad option magic 0x49484156454f5055");
        assertThat(new NbdOption(OPT_LIST, new byte[] {1}).encode().array()).isEqualTo(new WireBytes().option(OPT_LIST, new byte[] {1}).bytes());

        NbdOptionReply r = NbdOptionReply.read(new ScriptedChannel(new WireBytes().optionReply(OPT_INFO, REP_INFO, max).bytes()), OPT_INFO);
        assertThat(r.data()).hasSize(MAX_OPTION_LENGTH);
        assertThatThrownBy(() -> NbdOptionReply.read(new ScriptedChannel(new WireBytes().u64(OPTION_REPLY_MAGIC).u32(OPT_INFO).u32(REP_INFO)
                .u32(MAX_OPTION_LENGTH + 1).bytes()), OPT_INFO)).hasMessage("option reply of 65537 bytes (at most 65536)");
        assertThat(NbdOptionReply.ack(OPT_GO).encode().array()).isEqualTo(new WireBytes().optionReply(OPT_GO, REP_ACK, new byte[0]).bytes());
        assertThat(NbdOptionReply.error(OPT_GO, REP_ERR_POLICY, "no").isError()).isTrue();
        assertThat(NbdOptionReply.ack(OPT_GO).isError()).isFalse();
    }

    @Test
    void errorMessagesOfOptionReplies() {
        assertThat(new NbdOptionReply(OPT_GO, REP_ERR_INVALID, "bad\tname".getBytes()).errorMessage()).isEqualTo("bad?name");
        assertThat(new NbdOptionReply(OPT_GO, REP_ERR_INVALID, new byte[] {(byte) 0xff}).errorMessage()).isEmpty();
        assertThat(new NbdOptionReply(OPT_GO, REP_ERR_INVALID, new byte[] {'a', 0}).errorMessage()).isEmpty();
        // A message longer than the spec's 4096 bytes is cut to them (and to 200 characters for a line).
        assertThat(new NbdOptionReply(OPT_GO, REP_ERR_INVALID, "m".repeat(5000).getBytes()).errorMessage()).isEqualTo("m".repeat(200));
    }

    @Test
    void exportRequests() {
        NbdOption.ExportRequest r = new NbdOption.ExportRequest("ex", List.of(INFO_NAME, INFO_BLOCK_SIZE));
        byte[] wire = new WireBytes().u32(2).raw("ex".getBytes()).u16(2).u16(INFO_NAME).u16(INFO_BLOCK_SIZE).bytes();
        assertThat(r.encode()).isEqualTo(wire);
        assertThat(NbdOption.ExportRequest.decode(wire)).isEqualTo(r);
        assertThat(NbdOption.ExportRequest.decode(new WireBytes().u32(0).u16(0).bytes())).isEqualTo(new NbdOption.ExportRequest("", List.of()));
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new byte[3])).hasMessage("export request shorter than its name length");
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new WireBytes().u32(3).raw("ex".getBytes()).bytes()))
                .hasMessage("export name length 3 runs past the option");
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new WireBytes().u32(2).raw("ex".getBytes()).raw(new byte[1]).bytes()))
                .hasMessage("export request has no information request count");
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new WireBytes().u32(2).raw("ex".getBytes()).u16(2).u16(1).bytes()))
                .hasMessage("export request with 2 information requests has 2 bytes for them");
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new WireBytes().u32(2).raw("ex".getBytes()).u16(0).u16(1).bytes()))
                .hasMessage("export request with 0 information requests has 2 bytes for them");
        assertThatThrownBy(() -> NbdOption.ExportRequest.decode(new WireBytes().u32(0xffffffffL).u16(0).bytes()))
                .hasMessage("export name length 4294967295 runs past the option");
    }

    @Test
    void metaContextRequests() {
        NbdOption.MetaContextRequest m = new NbdOption.MetaContextRequest("ex", List.of("base:allocation", "q:"));
        byte[] wire = new WireBytes().u32(2).raw("ex".getBytes()).u32(2).u32(15).raw("base:allocation".getBytes()).u32(2).raw("q:".getBytes()).bytes();
        assertThat(m.encode()).isEqualTo(wire);
        assertThat(NbdOption.MetaContextRequest.decode(wire)).isEqualTo(m);
        assertThat(NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u32(0).bytes())).isEqualTo(new NbdOption.MetaContextRequest("", List.of()));
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new byte[3])).hasMessage("export name length missing");
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u16(0).bytes())).hasMessage("meta context request has no query count");
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u32(2).u32(0).bytes()))
                .hasMessage("meta context request claims 2 queries in 4 bytes");
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u32(1).u32(5).raw("abcd".getBytes()).bytes()))
                .hasMessage("meta context query length 5 runs past the message");
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u32(1).u32(1).raw("ab".getBytes()).bytes()))
                .hasMessage("meta context request has 1 trailing bytes");
        assertThatThrownBy(() -> NbdOption.MetaContextRequest.decode(new WireBytes().u32(0).u32(1).u32(0xffffffffL).bytes()))
                .hasMessage("meta context query length 4294967295 runs past the message");
    }

    @Test
    void protocolStrings() {
        byte[] max = "s".repeat(MAX_STRING).getBytes();
        assertThat(NbdIo.string(max, 0, MAX_STRING, "x")).hasSize(MAX_STRING);
        byte[] over = "s".repeat(MAX_STRING + 1).getBytes();
        assertThatThrownBy(() -> NbdIo.string(over, 0, MAX_STRING + 1, "export name")).hasMessage("export name is 4097 bytes long (at most 4096)");
        assertThatThrownBy(() -> NbdIo.string(new byte[] {'a', 0, 'b'}, 0, 3, "name")).hasMessage("name contains a NUL character");
        assertThatThrownBy(() -> NbdIo.string(new byte[] {0, 'b'}, 0, 2, "name")).hasMessage("name contains a NUL character");
        assertThatThrownBy(() -> NbdIo.string(new byte[] {(byte) 0xc3}, 0, 1, "name")).hasMessage("name is not valid UTF-8");
        assertThat(NbdIo.string("xxé".getBytes(java.nio.charset.StandardCharsets.UTF_8), 2, 2, "n")).isEqualTo("é");
        assertThat(NbdIo.utf8("s".repeat(MAX_STRING))).hasSize(MAX_STRING);
        assertThatThrownBy(() -> NbdIo.utf8("s".repeat(MAX_STRING + 1))).isInstanceOf(IllegalArgumentException.class);
        assertThat(NbdIo.printable("a\u0000b\u007fc\u0085d")).isEqualTo("a?b?c?d");
        assertThat(NbdIo.printable("p".repeat(300))).hasSize(200);
    }

    @Test
    void skippingAndShortStreams() throws IOException {
        ScriptedChannel ch = new ScriptedChannel(new WireBytes().raw(new byte[100_000]).u32(0x01020304).bytes());
        NbdIo.skip(ch, 100_000);
        assertThat(NbdIo.read(ch, 4).getInt()).isEqualTo(0x01020304);
        NbdIo.skip(ch, 0);
        assertThatThrownBy(() -> NbdIo.skip(new ScriptedChannel(new byte[10]), 11)).isInstanceOf(EOFException.class);
        assertThatThrownBy(() -> NbdIo.read(new ScriptedChannel(new byte[3]), 4)).isInstanceOf(EOFException.class)
                .hasMessage("connection closed by the peer");
        ScriptedChannel out = new ScriptedChannel(new byte[0]);
        NbdIo.writeFully(out, ByteBuffer.wrap(new byte[] {1}), ByteBuffer.allocate(0), ByteBuffer.wrap(new byte[] {2, 3}));
        assertThat(out.written()).containsExactly(1, 2, 3);
    }

    @Test
    void namesInMessages() {
        assertThat(List.of(CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES, CMD_BLOCK_STATUS, 99).stream()
                .map(NbdConstants::commandName)).containsExactly("read", "write", "disconnect", "flush", "trim", "cache", "write-zeroes", "block-status", "command 99");
        assertThat(List.of(OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT,
                OPT_SET_META_CONTEXT, 99).stream().map(NbdConstants::optionName)).containsExactly("NBD_OPT_EXPORT_NAME", "NBD_OPT_ABORT",
                "NBD_OPT_LIST", "NBD_OPT_STARTTLS", "NBD_OPT_INFO", "NBD_OPT_GO", "NBD_OPT_STRUCTURED_REPLY", "NBD_OPT_LIST_META_CONTEXT",
                "NBD_OPT_SET_META_CONTEXT", "option 99");
        assertThat(List.of(REP_ERR_UNSUP, REP_ERR_POLICY, REP_ERR_INVALID, REP_ERR_PLATFORM, REP_ERR_TLS_REQD, REP_ERR_UNKNOWN, REP_ERR_SHUTDOWN,
                REP_ERR_BLOCK_SIZE_REQD, REP_ERR_TOO_BIG, REP_ACK).stream().map(NbdConstants::optionReplyName)).containsExactly("unsupported",
                "refused by policy", "invalid", "not supported on this platform", "TLS required", "unknown export", "server shutting down",
                "block size required", "too big", "reply type 0x1");
    }
}
