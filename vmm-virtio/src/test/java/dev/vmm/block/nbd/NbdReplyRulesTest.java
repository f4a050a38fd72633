package dev.vmm.block.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.EOFException;
import java.io.IOException;
import java.util.List;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The client's reply parser ({@link NbdConnection#readReply}) against proto.md's rules for simple
 * and structured replies, one rule per test, each at its boundary: what a reply may carry is
 * accepted with exactly the bytes and errno it carried, and what breaks a MUST (overlapping or
 * out-of-range content, lengths that do not fit, chunks of the wrong type) is a protocol error
 * before anything is stored. The replies are bytes on a scripted channel, built from the spec's
 * layouts ({@link WireBytes}).
 */
@Timeout(10)
class NbdReplyRulesTest {
    private static final long READ_AT = 4096, READ_LEN = 8192;

    private static NbdConnection connection(byte[] replies, boolean structured) {
        NbdConnection.Negotiated n = new NbdConnection.Negotiated(1 << 20, FLAG_HAS_FLAGS, structured, 7, 1, MAX_PAYLOAD);
        return NbdConnection.overChannel(new ScriptedChannel(replies), n);
    }

    /** Applies replies until the request completes; the stream must not run out before. */
    private static NbdConnection.Pending complete(NbdConnection c, NbdConnection.Pending p) throws IOException {
        for (int i = 0; i < 100 && !p.future().isDone(); i++) c.readReply();
        assertThat(p.future()).isCompleted();
        return p.future().join();
    }

    private static NbdConnection.Pending read(WireBytes w) throws IOException {
        NbdConnection c = connection(w.bytes(), true);
        return complete(c, c.expect(new NbdRequest(0, CMD_READ, 1, READ_AT, READ_LEN)));
    }

    private static NbdConnection.Pending status(WireBytes w, long length) throws IOException {
        NbdConnection c = connection(w.bytes(), true);
        return complete(c, c.expect(new NbdRequest(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 1, 0, length)));
    }

    private static void readRefused(WireBytes w, String message) {
        assertThatThrownBy(() -> read(w)).isInstanceOf(NbdProtocolException.class).hasMessageContaining(message);
    }

    private static void statusRefused(WireBytes w, long length, String message) {
        assertThatThrownBy(() -> status(w, length)).isInstanceOf(NbdProtocolException.class).hasMessageContaining(message);
    }

    // ---- content chunks of a read ----

    @Test
    void overlappingDataChunksAreRefusedNotCountedTwice() {
        // The first half twice and the second half never: the byte count adds up to the request,
        // but the second half was never sent (proto.md: content chunks MUST NOT overlap).
        byte[] half = WireBytes.pattern((int) READ_LEN / 2, 1);
        readRefused(new WireBytes().data(false, 1, READ_AT, half).data(true, 1, READ_AT, half), "overlaps");
    }

    @Test
    void holeOverlappingDataIsRefused() {
        // The counts add up again (4096 + 1 + 4095) while the read's last byte was never sent.
        readRefused(new WireBytes().data(false, 1, READ_AT, WireBytes.pattern(4096, 2))
                .hole(false, 1, READ_AT + 4095, 1).data(true, 1, READ_AT + 4096, WireBytes.pattern(4095, 3)), "overlaps");
    }

    @Test
    void dataAndHolesInAnyOrderAssembleTheRead() throws IOException {
        byte[] tail = WireBytes.pattern(4096, 5), head = WireBytes.pattern(1000, 9);
        NbdConnection.Pending p = read(new WireBytes().data(false, 1, READ_AT + 4096, tail)
                .hole(false, 1, READ_AT + 1000, 3096).data(false, 1, READ_AT, head).chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0));
        byte[] expect = new byte[(int) READ_LEN];
        System.arraycopy(head, 0, expect, 0, 1000);
        System.arraycopy(tail, 0, expect, 4096, 4096);
        assertThat(p.data()).isEqualTo(expect);
        assertThat(p.errno()).isZero();
    }

    @Test
    void chunksOfTwoReadsInterleavedGoEachToTheirOwn() throws IOException {
        // proto.md lets a server interleave the chunks of different requests.
        byte[] a1 = WireBytes.pattern(4096, 1), a2 = WireBytes.pattern(4096, 2), b1 = WireBytes.pattern(512, 3);
        NbdConnection c = connection(new WireBytes().data(false, 1, READ_AT + 4096, a2).data(true, 2, 0, b1)
                .data(true, 1, READ_AT, a1).bytes(), true);
        NbdConnection.Pending first = c.expect(new NbdRequest(0, CMD_READ, 1, READ_AT, READ_LEN));
        NbdConnection.Pending second = c.expect(new NbdRequest(0, CMD_READ, 2, 0, 512));
        c.readReply();
        c.readReply();
        assertThat(second.future()).isCompleted();
        assertThat(first.future()).isNotDone();
        assertThat(complete(c, second).data()).isEqualTo(b1);
        byte[] both = new byte[(int) READ_LEN];
        System.arraycopy(a1, 0, both, 0, 4096);
        System.arraycopy(a2, 0, both, 4096, 4096);
        assertThat(complete(c, first).data()).isEqualTo(both);
    }

    @Test
    void dataChunkAtEachEdgeOfTheReadIsAccepted() throws IOException {
        byte[] one = {0x5a}, rest = WireBytes.pattern((int) READ_LEN - 2, 4), last = {(byte) 0xa5};
        NbdConnection.Pending p = read(new WireBytes().data(false, 1, READ_AT + READ_LEN - 1, last)
                .data(false, 1, READ_AT, one).data(true, 1, READ_AT + 1, rest));
        assertThat(p.data()[0]).isEqualTo((byte) 0x5a);
        assertThat(p.data()[(int) READ_LEN - 1]).isEqualTo((byte) 0xa5);
        assertThat(java.util.Arrays.copyOfRange(p.data(), 1, (int) READ_LEN - 1)).isEqualTo(rest);
    }

    @Test
    void dataChunkBoundsAreTheRequestsExactly() {
        readRefused(new WireBytes().data(true, 1, READ_AT - 1, new byte[1]), "outside the read");
        readRefused(new WireBytes().data(true, 1, READ_AT + READ_LEN, new byte[1]), "outside the read");
        readRefused(new WireBytes().data(true, 1, READ_AT + READ_LEN - 1, new byte[2]), "outside the read");
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_OFFSET_DATA, 1, 8).u64(READ_AT), "data chunk of 8 bytes");
    }

    @Test
    void holeChunkRules() throws IOException {
        NbdConnection.Pending p = read(new WireBytes().hole(true, 1, READ_AT, READ_LEN));
        assertThat(p.data()).containsOnly(0);
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_OFFSET_HOLE, 1, 16).u64(READ_AT).u32(READ_LEN).u32(0), "hole chunk of 16 bytes (12 expected)");
        readRefused(new WireBytes().hole(true, 1, READ_AT, 0), "hole chunk [4096, +0)");
        readRefused(new WireBytes().hole(true, 1, READ_AT - 1, 1), "outside the read");
        readRefused(new WireBytes().hole(true, 1, READ_AT + READ_LEN, 1), "outside the read");
        readRefused(new WireBytes().hole(true, 1, READ_AT + 1, READ_LEN), "outside the read");
    }

    @Test
    void contentChunksOnlyAnswerReads() {
        NbdConnection c = connection(new WireBytes().data(true, 2, 0, new byte[512]).bytes(), true);
        c.expect(new NbdRequest(0, CMD_WRITE, 2, 0, 512));
        assertThatThrownBy(c::readReply).hasMessageContaining("data chunk in reply to write");
        NbdConnection h = connection(new WireBytes().hole(true, 2, 0, 512).bytes(), true);
        h.expect(new NbdRequest(0, CMD_FLUSH, 2, 0, 0));
        assertThatThrownBy(h::readReply).hasMessageContaining("hole chunk in reply to flush");
    }

    @Test
    void aReadMustBeCoveredWhole() {
        readRefused(new WireBytes().data(false, 1, READ_AT, new byte[100]).chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0),
                "read of 8192 bytes answered with 100");
        readRefused(new WireBytes().hole(true, 1, READ_AT + 1, READ_LEN - 1), "answered with 8191");
    }

    // ---- NONE, simple replies, cookies ----

    @Test
    void noneChunkMustBeEmptyAndFinal() throws IOException {
        readRefused(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 4).u32(0), "NBD_REPLY_TYPE_NONE with 4 bytes");
        readRefused(new WireBytes().chunk(0, REPLY_TYPE_NONE, 1, 0), "without the done flag");
        NbdConnection c = connection(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 5, 0).bytes(), true);
        NbdConnection.Pending flush = complete(c, c.expect(new NbdRequest(0, CMD_FLUSH, 5, 0, 0)));
        assertThat(flush.errno()).isZero();
        assertThat(flush.message()).isNull();
    }

    @Test
    void simpleRepliesWithoutStructuredRepliesCarryTheReadData() throws IOException {
        byte[] data = WireBytes.pattern((int) READ_LEN, 7);
        NbdConnection c = connection(new WireBytes().simple(0, 3).simple(0, 1).raw(data).simple(NbdErrno.ENOSPC, 2).bytes(), false);
        NbdConnection.Pending read = c.expect(new NbdRequest(0, CMD_READ, 1, READ_AT, READ_LEN));
        NbdConnection.Pending write = c.expect(new NbdRequest(0, CMD_WRITE, 2, 0, 512));
        NbdConnection.Pending flush = c.expect(new NbdRequest(0, CMD_FLUSH, 3, 0, 0));
        c.readReply();
        assertThat(flush.future()).isCompleted();
        assertThat(read.future()).isNotDone();
        c.readReply();
        assertThat(complete(c, read).data()).isEqualTo(data);
        assertThat(complete(c, write).errno()).isEqualTo(NbdErrno.ENOSPC);
        assertThatThrownBy(c::readReply).isInstanceOf(EOFException.class);
    }

    @Test
    void structuredChunksNeedTheNegotiation() {
        NbdConnection c = connection(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0).bytes(), false);
        c.expect(new NbdRequest(0, CMD_FLUSH, 1, 0, 0));
        assertThatThrownBy(c::readReply).hasMessageContaining("without NBD_OPT_STRUCTURED_REPLY");
    }

    @Test
    void simpleErrorToAStructuredReadCarriesNoData() throws IOException {
        // The error reply has no payload: the next reply must be parsed right after its header.
        NbdConnection c = connection(new WireBytes().simple(NbdErrno.EIO, 1).chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 2, 0).bytes(), true);
        NbdConnection.Pending read = c.expect(new NbdRequest(0, CMD_READ, 1, READ_AT, READ_LEN));
        NbdConnection.Pending flush = c.expect(new NbdRequest(0, CMD_FLUSH, 2, 0, 0));
        assertThat(complete(c, read).errno()).isEqualTo(NbdErrno.EIO);
        assertThat(read.message()).isNull();
        assertThat(complete(c, flush).errno()).isZero();
    }

    @Test
    void simpleSuccessIsRefusedWhereOnlyChunksMayAnswer() {
        readRefused(new WireBytes().simple(0, 1).raw(new byte[(int) READ_LEN]), "simple reply to a read after structured replies");
        statusRefused(new WireBytes().simple(0, 1), 4096, "simple success reply to a block status request");
    }

    @Test
    void aCompletedRequestTakesNoMoreReplies() throws IOException {
        NbdConnection c = connection(new WireBytes().hole(true, 1, READ_AT, READ_LEN).chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0).bytes(), true);
        complete(c, c.expect(new NbdRequest(0, CMD_READ, 1, READ_AT, READ_LEN)));
        assertThatThrownBy(c::readReply).hasMessage("reply for cookie 1, which no request has");
    }

    @Test
    void cookiesAreUnsignedInMessages() {
        NbdConnection c = connection(new WireBytes().simple(0, -1L).bytes(), true);
        assertThatThrownBy(c::readReply).hasMessageContaining("cookie 18446744073709551615");
    }

    // ---- block status ----

    @Test
    void blockStatusExtentsAreDeliveredAsSent() throws IOException {
        NbdConnection.Pending p = status(new WireBytes().status(true, 1, 7, 4096, STATE_HOLE | STATE_ZERO, 8192, 0), 65536);
        assertThat(p.extents()).containsExactly(new long[] {4096, 3}, new long[] {8192, 0});
    }

    @Test
    void blockStatusLengthRules() {
        statusRefused(new WireBytes().chunk(1, REPLY_TYPE_BLOCK_STATUS, 1, 8).u32(7).u32(4096), 4096, "block status chunk of 8 bytes");
        statusRefused(new WireBytes().chunk(1, REPLY_TYPE_BLOCK_STATUS, 1, 16).u32(7).u32(4096).u32(0).u32(0), 4096, "block status chunk of 16 bytes");
        statusRefused(new WireBytes().chunk(1, REPLY_TYPE_BLOCK_STATUS, 1, (1 << 20) + 4).u32(7), 4096, "block status chunk of 1048580 bytes");
        statusRefused(new WireBytes().status(true, 1, 7, 0, 0), 4096, "extent of length 0");
        statusRefused(new WireBytes().status(true, 1, 6, 4096, 0), 4096, "meta context 6, which was not selected");
        statusRefused(new WireBytes().status(false, 1, 7, 4096, 0).status(true, 1, 7, 4096, 0), 8192, "two block status chunks");
        statusRefused(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0), 4096, "block status reply without extents");
    }

    @Test
    void onlyTheLastExtentMayRunPastTheRequest() throws IOException {
        // One long extent, or a last one that starts inside the request, is what servers send for
        // their natural extent sizes; an extent that starts past the end is a lie.
        assertThat(status(new WireBytes().status(true, 1, 7, 1 << 20, 0), 4096).extents()).hasSize(1);
        assertThat(status(new WireBytes().status(true, 1, 7, 4095, 0, 1 << 20, 1), 4096).extents()).hasSize(2);
        statusRefused(new WireBytes().status(true, 1, 7, 4096, 0, 512, 1), 4096, "run past the request");
        statusRefused(new WireBytes().status(true, 1, 7, 2048, 0, 2049, 1, 512, 0), 4096, "run past the request");
        assertThat(status(new WireBytes().status(true, 1, 7, 2048, 0, 2048, 1), 4096).extents()).hasSize(2);
    }

    @Test
    void blockStatusChunksOnlyAnswerBlockStatus() {
        readRefused(new WireBytes().status(true, 1, 7, 4096, 0), "block status chunk in reply to read");
    }

    // ---- error chunks ----

    @Test
    void errorChunkCarriesErrnoAndMessage() throws IOException {
        NbdConnection.Pending p = read(new WireBytes().error(true, REPLY_TYPE_ERROR, 1, NbdErrno.EIO, "disk\non fire", null));
        assertThat(p.errno()).isEqualTo(NbdErrno.EIO);
        assertThat(p.message()).isEqualTo("disk?on fire");
    }

    @Test
    void theFirstErrorWins() throws IOException {
        NbdConnection.Pending p = read(new WireBytes().error(false, REPLY_TYPE_ERROR, 1, NbdErrno.EIO, "first", null)
                .error(true, REPLY_TYPE_ERROR_OFFSET, 1, NbdErrno.ENOSPC, "second", READ_AT + 10));
        assertThat(p.errno()).isEqualTo(NbdErrno.EIO);
        assertThat(p.message()).isEqualTo("first");
    }

    @Test
    void errorOffsetMustLieInTheRequest() throws IOException {
        assertThat(read(new WireBytes().error(true, REPLY_TYPE_ERROR_OFFSET, 1, NbdErrno.EIO, "", READ_AT)).errno()).isEqualTo(NbdErrno.EIO);
        assertThat(read(new WireBytes().error(true, REPLY_TYPE_ERROR_OFFSET, 1, NbdErrno.EIO, "m", READ_AT + READ_LEN - 1)).message()).isEqualTo("m");
        readRefused(new WireBytes().error(true, REPLY_TYPE_ERROR_OFFSET, 1, NbdErrno.EIO, "", READ_AT - 1), "error offset 4095 outside the request");
        readRefused(new WireBytes().error(true, REPLY_TYPE_ERROR_OFFSET, 1, NbdErrno.EIO, "", READ_AT + READ_LEN), "outside the request");
    }

    @Test
    void errorChunkLengthRules() {
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_ERROR, 1, 5).u32(NbdErrno.EIO).raw(new byte[1]), "error chunk of 5 bytes");
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_ERROR, 1, (1 << 20) + 1), "error chunk of 1048577 bytes");
        readRefused(new WireBytes().error(true, REPLY_TYPE_ERROR, 1, 0, "ok?", null), "error chunk with error 0");
        // A message length that leaves bytes over (or an ERROR_OFFSET without its offset) does not fit.
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_ERROR, 1, 8).u32(NbdErrno.EIO).u16(1).raw(new byte[2]), "error chunk of 8 bytes with a 1-byte message");
        readRefused(new WireBytes().chunk(1, REPLY_TYPE_ERROR_OFFSET, 1, 7).u32(NbdErrno.EIO).u16(1).raw(new byte[1]), "error chunk of 7 bytes with a 1-byte message");
    }

    @Test
    void errorChunksAtTheirLengthLimits() throws IOException {
        // The smallest error chunk (no message) and an unknown error type of exactly 1 MiB are valid.
        assertThat(read(new WireBytes().error(true, REPLY_TYPE_ERROR, 1, NbdErrno.EPERM, "", null)).errno()).isEqualTo(NbdErrno.EPERM);
        NbdConnection.Pending big = read(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_FLAG_ERROR | 3, 1, 1 << 20)
                .u32(NbdErrno.EIO).u16(2).raw("ok".getBytes()).raw(new byte[(1 << 20) - 8]));
        assertThat(big.errno()).isEqualTo(NbdErrno.EIO);
        assertThat(big.message()).isEqualTo("ok");
        // A message length a little past the chunk is cut to the chunk too.
        NbdConnection.Pending cut = read(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_FLAG_ERROR | 9, 1, 9)
                .u32(NbdErrno.EIO).u16(5).raw("abc".getBytes()));
        assertThat(cut.message()).isEqualTo("abc");
    }

    @Test
    void unknownErrorTypesAreErrorsWithTheirMessageCapped() throws IOException {
        // proto.md: a client treats an unknown error type as an error; its message length is
        // believed only as far as the chunk goes.
        NbdConnection.Pending p = read(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_FLAG_ERROR | 9, 1, 9)
                .u32(NbdErrno.EINVAL).u16(100).raw("abc".getBytes()));
        assertThat(p.errno()).isEqualTo(NbdErrno.EINVAL);
        assertThat(p.message()).isEqualTo("abc");
        NbdConnection.Pending bad = read(new WireBytes().chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, 1, 8)
                .u32(NbdErrno.EIO).u16(2).raw(new byte[] {(byte) 0xc3, 0x28}));
        assertThat(bad.errno()).isEqualTo(NbdErrno.EIO);
        assertThat(bad.message()).isEmpty();
    }

    @Test
    void anErrorExcusesTheMissingContent() throws IOException {
        NbdConnection.Pending p = read(new WireBytes().data(false, 1, READ_AT, new byte[10])
                .error(true, REPLY_TYPE_ERROR, 1, NbdErrno.EIO, "half", null));
        assertThat(p.errno()).isEqualTo(NbdErrno.EIO);
        NbdConnection.Pending s = status(new WireBytes().error(true, REPLY_TYPE_ERROR, 1, NbdErrno.EINVAL, "", null), 4096);
        assertThat(s.errno()).isEqualTo(NbdErrno.EINVAL);
        assertThat(s.extents()).isEmpty();
    }

    @Test
    void unknownChunkFlagsAndMagicsEndTheStream() {
        readRefused(new WireBytes().chunk(2 | REPLY_FLAG_DONE, REPLY_TYPE_NONE, 1, 0), "unknown flags 0x3");
        readRefused(new WireBytes().u32(0x12345678).u32(0).u64(1), "bad reply magic 0x12345678");
        readRefused(new WireBytes().chunk(REPLY_FLAG_DONE, 3, 1, 0), "unknown reply type 3");
    }

    @Test
    void pendingAccessorsDescribeTheRequest() {
        NbdConnection c = connection(new byte[0], true);
        NbdConnection.Pending r = c.expect(new NbdRequest(0, CMD_READ, 9, 0, 16));
        NbdConnection.Pending w = c.expect(new NbdRequest(0, CMD_WRITE, 10, 0, 16));
        assertThat(r.request().cookie()).isEqualTo(9);
        assertThat(r.data()).hasSize(16);
        assertThat(w.data()).isNull();
        assertThat(w.extents()).isEqualTo(List.of());
    }
}
