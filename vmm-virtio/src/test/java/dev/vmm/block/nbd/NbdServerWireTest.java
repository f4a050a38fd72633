package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server's side of a session ({@link NbdServerSession}) as bytes on the wire: a whole client
 * script goes in (built from proto.md's layouts by {@link WireBytes}), requests run in order on
 * the calling thread, and every byte the server sends is parsed back and compared with what the
 * spec says it must be: the greeting, each option reply, the export reply, simple replies and
 * structured chunks, errnos and messages, and what reached the disk (flushes, trims, zeroing).
 */
@Timeout(10)
class NbdServerWireTest {
    private static final int DISK = 256 << 10;

    /** A disk that records the calls that have no visible effect on the bytes (flush, unmap hints). */
    static final class RecordingDisk implements BlockDevice {
        final MemoryDisk disk = new MemoryDisk(DISK, false);
        final List<String> calls = new CopyOnWriteArrayList<>();
        RuntimeException failReads;

        @Override public long size() { return disk.size(); }
        @Override public boolean readOnly() { return false; }
        @Override public String format() { return "raw"; }
        @Override public ImageInfo info() { return disk.info(); }
        @Override public void close() {}

        @Override
        public void read(long offset, MemorySegment dst) {
            if (failReads != null) throw failReads;
            disk.read(offset, dst);
        }

        @Override
        public void write(long offset, MemorySegment src) {
            calls.add("write " + offset + "+" + src.byteSize());
            disk.write(offset, src);
        }

        @Override
        public void flush() { calls.add("flush"); }

        @Override
        public void discard(long offset, long length) {
            calls.add("discard " + offset + "+" + length);
            disk.discard(offset, length);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayUnmap) {
            calls.add("zeroes " + offset + "+" + length + (mayUnmap ? " unmap" : ""));
            disk.writeZeroes(offset, length, mayUnmap);
        }

        @Override
        public Extent status(long offset, long maxLength) {
            if (failReads != null) throw failReads;
            Extent e = disk.status(offset, maxLength);
            // Data blocks report depth 1 (as if from a backing file) so allocation depth shows it.
            return e.data() ? new Extent(e.offset(), e.length(), true, false, 1, e.offset(), "memory") : e;
        }
    }

    private final RecordingDisk disk = new RecordingDisk();
    private final List<String> log = new ArrayList<>();

    private NbdExport export(boolean discard, boolean writeThrough, boolean flushes, String description) {
        return new NbdExport("ex", description, disk, false, discard, true, writeThrough, flushes);
    }

    /** Runs a session on {@code client} bytes (after the client flags) and returns what the server sent, after the greeting. */
    private ByteBuffer session(NbdExport export, int clientFlags, WireBytes client) {
        ScriptedChannel in = new ScriptedChannel(new WireBytes().u32(clientFlags).raw(client.bytes()).bytes());
        ScriptedChannel out = new ScriptedChannel(new byte[0]);
        new NbdServerSession(in, out, export, Runnable::run, log::add).run();
        ByteBuffer b = ByteBuffer.wrap(out.written());
        assertThat(b.getLong()).isEqualTo(NBDMAGIC);
        assertThat(b.getLong()).isEqualTo(IHAVEOPT);
        assertThat(b.getShort()).isEqualTo((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
        return b;
    }

    private ByteBuffer session(WireBytes client) {
        return session(export(true, false, true, "desc"), FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES, client);
    }

    record Reply(int option, int type, byte[] data) {
        String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    private static Reply optionReply(ByteBuffer b) {
        assertThat(b.getLong()).isEqualTo(OPTION_REPLY_MAGIC);
        int opt = b.getInt(), type = b.getInt();
        byte[] d = new byte[b.getInt()];
        b.get(d);
        return new Reply(opt, type, d);
    }

    /** Option replies up to and including the ACK or error that ends them. */
    private static List<Reply> optionReplies(ByteBuffer b) {
        List<Reply> l = new ArrayList<>();
        while (true) {
            Reply r = optionReply(b);
            l.add(r);
            if (r.type() == REP_ACK || (r.type() & REP_FLAG_ERROR) != 0) return l;
        }
    }

    private static byte[] exportRequest(String name, int... infos) {
        ByteBuffer b = ByteBuffer.allocate(4 + name.length() + 2 + 2 * infos.length).putInt(name.length()).put(name.getBytes()).putShort((short) infos.length);
        for (int i : infos) b.putShort((short) i);
        return b.array();
    }

    private static byte[] metaRequest(String name, String... queries) {
        WireBytes w = new WireBytes().u32(name.length()).raw(name.getBytes()).u32(queries.length);
        for (String q : queries) w.u32(q.length()).raw(q.getBytes());
        return w.bytes();
    }

    /** A negotiation that ends in transmission with structured replies and both contexts. */
    private static WireBytes structuredGo() {
        return new WireBytes().option(OPT_STRUCTURED_REPLY, new byte[0])
                .option(OPT_SET_META_CONTEXT, metaRequest("ex", BASE_ALLOCATION, QEMU_ALLOCATION_DEPTH))
                .option(OPT_GO, exportRequest("ex"));
    }

    private static void skipOptionReplies(ByteBuffer b, int n) {
        for (int i = 0; i < n; i++) optionReplies(b);
    }

    record Chunk(int flags, int type, long cookie, byte[] payload) {
        ByteBuffer p() { return ByteBuffer.wrap(payload); }
    }

    private static Chunk chunk(ByteBuffer b) {
        assertThat(b.getInt()).isEqualTo(STRUCTURED_REPLY_MAGIC);
        int flags = b.getShort(), type = Short.toUnsignedInt(b.getShort());
        long cookie = b.getLong();
        byte[] p = new byte[b.getInt()];
        b.get(p);
        return new Chunk(flags, type, cookie, p);
    }

    private static List<Chunk> chunks(ByteBuffer b) {
        List<Chunk> l = new ArrayList<>();
        do l.add(chunk(b)); while ((l.getLast().flags() & REPLY_FLAG_DONE) == 0);
        return l;
    }

    /** A simple reply: {error, cookie}. */
    private static long[] simple(ByteBuffer b) {
        assertThat(b.getInt()).isEqualTo(SIMPLE_REPLY_MAGIC);
        return new long[] {b.getInt(), b.getLong()};
    }

    // ---- handshake ----

    @Test
    void exportNameWithoutNoZeroesGetsThe134ByteReplyAndTransmissionStarts() {
        disk.disk.bytes[100] = 42;
        ByteBuffer b = session(export(true, false, true, null), FLAG_C_FIXED_NEWSTYLE,
                new WireBytes().option(OPT_EXPORT_NAME, "ex".getBytes()).request(0, CMD_READ, 5, 100, 1).request(0, CMD_DISC, 6, 0, 0));
        assertThat(b.getLong()).isEqualTo(DISK);
        assertThat(b.getShort()).isEqualTo((short) export(true, false, true, null).transmissionFlags());
        byte[] zeroes = new byte[124];
        b.get(zeroes);
        assertThat(zeroes).containsOnly(0);
        assertThat(simple(b)).containsExactly(0, 5);
        assertThat(b.get()).isEqualTo((byte) 42);
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void exportNameWithNoZeroesGetsTenBytes() {
        ByteBuffer b = session(new WireBytes().option(OPT_EXPORT_NAME, "ex".getBytes()).request(0, CMD_FLUSH, 9, 0, 0));
        assertThat(b.getLong()).isEqualTo(DISK);
        b.getShort();
        assertThat(simple(b)).containsExactly(0, 9);
        assertThat(b.hasRemaining()).isFalse();
        assertThat(disk.calls).containsExactly("flush");
    }

    @Test
    void unknownExportNameAndUnknownClientFlagsEndTheSessionSilently() {
        assertThat(session(new WireBytes().option(OPT_EXPORT_NAME, "nope".getBytes())).hasRemaining()).isFalse();
        assertThat(log).containsExactly("client asked for unknown export 'nope'");
        log.clear();
        assertThat(session(export(true, false, true, null), 4 | FLAG_C_FIXED_NEWSTYLE, new WireBytes().option(OPT_LIST, new byte[0])).hasRemaining()).isFalse();
        assertThat(log).containsExactly("client broke the protocol: unknown client flags 0x5");
    }

    @Test
    void abortIsAcknowledgedAndEndsTheSession() {
        ByteBuffer b = session(new WireBytes().option(OPT_ABORT, new byte[0]).option(OPT_LIST, new byte[0]));
        assertThat(optionReply(b)).extracting(Reply::option, Reply::type, Reply::text).containsExactly(OPT_ABORT, REP_ACK, "");
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void listNamesTheExport() {
        ByteBuffer b = session(new WireBytes().option(OPT_LIST, new byte[0]).option(OPT_LIST, new byte[1]));
        List<Reply> l = optionReplies(b);
        assertThat(l).hasSize(2);
        assertThat(l.get(0).type()).isEqualTo(REP_SERVER);
        assertThat(l.get(0).data()).isEqualTo(new byte[] {0, 0, 0, 2, 'e', 'x'});
        Reply bad = optionReply(b);
        assertThat(bad.type()).isEqualTo(REP_ERR_INVALID);
        assertThat(bad.text()).isEqualTo("NBD_OPT_LIST takes no data");
    }

    @Test
    void infoSendsExportNameDescriptionAndBlockSizesThenTheSessionGoesOn() {
        ByteBuffer b = session(new WireBytes().option(OPT_INFO, exportRequest("ex", INFO_NAME, INFO_DESCRIPTION))
                .option(OPT_INFO, exportRequest("ex")).option(OPT_INFO, exportRequest("other")));
        List<Reply> l = optionReplies(b);
        assertThat(l).extracting(Reply::type).containsExactly(REP_INFO, REP_INFO, REP_INFO, REP_INFO, REP_ACK);
        assertThat(l.get(0).data()).isEqualTo(ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(DISK)
                .putShort((short) export(true, false, true, null).transmissionFlags()).array());
        assertThat(l.get(1).data()).isEqualTo(new byte[] {0, INFO_NAME, 'e', 'x'});
        assertThat(l.get(2).data()).isEqualTo(new byte[] {0, INFO_DESCRIPTION, 'd', 'e', 's', 'c'});
        assertThat(l.get(3).data()).isEqualTo(ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(1).putInt(4096).putInt(MAX_PAYLOAD).array());
        assertThat(optionReplies(b)).extracting(Reply::type).containsExactly(REP_INFO, REP_INFO, REP_ACK);
        Reply unknown = optionReply(b);
        assertThat(unknown.type()).isEqualTo(REP_ERR_UNKNOWN);
        assertThat(unknown.text()).isEqualTo("export 'other' not present");
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void noDescriptionNoDescriptionInfo() {
        ByteBuffer b = session(export(true, false, true, null), FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES,
                new WireBytes().option(OPT_INFO, exportRequest("ex", INFO_DESCRIPTION)));
        assertThat(optionReplies(b)).extracting(Reply::type).containsExactly(REP_INFO, REP_INFO, REP_ACK);
    }

    @Test
    void refusalsNameTheirReason() {
        ByteBuffer b = session(new WireBytes().option(OPT_STRUCTURED_REPLY, new byte[1]).option(OPT_STARTTLS, new byte[0])
                .option(OPT_SET_META_CONTEXT, metaRequest("ex", BASE_ALLOCATION)).option(77, new byte[3]).option(OPT_GO, new byte[] {0, 0, 0, 9}));
        assertThat(optionReply(b)).extracting(Reply::type, Reply::text).containsExactly(REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
        assertThat(optionReply(b)).extracting(Reply::type, Reply::text).containsExactly(REP_ERR_POLICY, "TLS is not configured on this server");
        assertThat(optionReply(b)).extracting(Reply::type, Reply::text)
                .containsExactly(REP_ERR_INVALID, "NBD_OPT_SET_META_CONTEXT needs structured replies first");
        assertThat(optionReply(b)).extracting(Reply::option, Reply::type, Reply::text).containsExactly(77, REP_ERR_UNSUP, "unsupported option 77");
        assertThat(optionReply(b)).extracting(Reply::option, Reply::type, Reply::text)
                .containsExactly(OPT_GO, REP_ERR_INVALID, "export name length 9 runs past the option");
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void metaContextQueries() {
        ByteBuffer b = session(new WireBytes().option(OPT_LIST_META_CONTEXT, metaRequest("ex"))
                .option(OPT_LIST_META_CONTEXT, metaRequest("ex", "base:", "qemu:"))
                .option(OPT_LIST_META_CONTEXT, metaRequest("ex", "qemu:allocation-depth"))
                .option(OPT_LIST_META_CONTEXT, metaRequest("other"))
                .option(OPT_STRUCTURED_REPLY, new byte[0])
                .option(OPT_SET_META_CONTEXT, metaRequest("ex"))
                .option(OPT_SET_META_CONTEXT, metaRequest("ex", "base:"))
                .option(OPT_SET_META_CONTEXT, metaRequest("ex", QEMU_ALLOCATION_DEPTH, "x:y")));
        assertThat(optionReplies(b)).extracting(Reply::text).containsExactly("\0\0\0\1" + BASE_ALLOCATION, "\0\0\0\2" + QEMU_ALLOCATION_DEPTH, "");
        assertThat(optionReplies(b)).extracting(Reply::text).containsExactly("\0\0\0\1" + BASE_ALLOCATION, "\0\0\0\2" + QEMU_ALLOCATION_DEPTH, "");
        assertThat(optionReplies(b)).extracting(Reply::text).containsExactly("\0\0\0\2" + QEMU_ALLOCATION_DEPTH, "");
        assertThat(optionReplies(b)).extracting(Reply::type, Reply::text).containsExactly(org.assertj.core.groups.Tuple.tuple(REP_ERR_UNKNOWN, "export 'other' not present"));
        optionReplies(b);
        // SET: an empty query selects nothing (only LIST lists all), nor does a bare namespace.
        assertThat(optionReplies(b)).extracting(Reply::type).containsExactly(REP_ACK);
        assertThat(optionReplies(b)).extracting(Reply::type).containsExactly(REP_ACK);
        assertThat(optionReplies(b)).extracting(Reply::option, Reply::type).containsExactly(
                org.assertj.core.groups.Tuple.tuple(OPT_SET_META_CONTEXT, REP_META_CONTEXT), org.assertj.core.groups.Tuple.tuple(OPT_SET_META_CONTEXT, REP_ACK));
    }

    @Test
    void withoutAllocationDepthOnlyBaseAllocationIsOffered() {
        NbdExport plain = new NbdExport("ex", null, disk, false, false, false, false, true);
        ByteBuffer b = session(plain, FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES, new WireBytes().option(OPT_LIST_META_CONTEXT, metaRequest("ex")));
        assertThat(optionReplies(b)).extracting(Reply::text).containsExactly("\0\0\0\1" + BASE_ALLOCATION, "");
    }

    // ---- transmission ----

    @Test
    void structuredReadSendsDataAndHoleChunksInOrder() {
        // Blocks 1 and 3 of 0..3 are written; a read of all four: data, hole, data, hole+done... with a NONE at the end.
        byte[] one = WireBytes.pattern(4096, 1), three = WireBytes.pattern(4096, 3);
        disk.disk.write(4096, MemorySegment.ofArray(one));
        disk.disk.write(3 * 4096, MemorySegment.ofArray(three));
        ByteBuffer b = session(structuredGo().request(0, CMD_READ, 11, 0, 4 * 4096).request(0, CMD_READ, 12, 4096, 4096)
                .request(CMD_FLAG_DF, CMD_READ, 13, 0, 2 * 4096));
        skipOptionReplies(b, 3);
        List<Chunk> c = chunks(b);
        assertThat(c).extracting(Chunk::type, Chunk::flags).containsExactly(
                org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_HOLE, 0), org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_DATA, 0),
                org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_HOLE, 0), org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_DATA, REPLY_FLAG_DONE));
        assertThat(c).extracting(Chunk::cookie).containsOnly(11L);
        assertThat(c.get(0).payload()).isEqualTo(ByteBuffer.allocate(12).putLong(0).putInt(4096).array());
        assertThat(c.get(1).p().getLong()).isEqualTo(4096);
        assertThat(java.util.Arrays.copyOfRange(c.get(1).payload(), 8, 8 + 4096)).isEqualTo(one);
        assertThat(c.get(2).payload()).isEqualTo(ByteBuffer.allocate(12).putLong(2 * 4096).putInt(4096).array());
        assertThat(java.util.Arrays.copyOfRange(c.get(3).payload(), 8, 8 + 4096)).isEqualTo(three);
        // All data: one chunk, done.
        List<Chunk> d = chunks(b);
        assertThat(d).hasSize(1);
        assertThat(d.getFirst().p().getLong()).isEqualTo(4096);
        // Don't-fragment: one data chunk for the whole read, holes as zeroes.
        List<Chunk> df = chunks(b);
        assertThat(df).hasSize(1);
        assertThat(df.getFirst().payload()).hasSize(8 + 2 * 4096);
        assertThat(java.util.Arrays.copyOfRange(df.getFirst().payload(), 8, 8 + 4096)).containsOnly(0);
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void aReadThatEndsInAHoleEndsWithANoneChunk() {
        disk.disk.write(0, MemorySegment.ofArray(new byte[] {7}));
        ByteBuffer b = session(structuredGo().request(0, CMD_READ, 1, 0, 2 * 4096).request(0, CMD_READ, 2, 4096, 4096));
        skipOptionReplies(b, 3);
        assertThat(chunks(b)).extracting(Chunk::type, Chunk::flags).containsExactly(
                org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_DATA, 0), org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_OFFSET_HOLE, 0),
                org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_NONE, REPLY_FLAG_DONE));
        List<Chunk> onlyHole = chunks(b);
        assertThat(onlyHole).extracting(Chunk::type).containsExactly(REPLY_TYPE_OFFSET_HOLE, REPLY_TYPE_NONE);
        assertThat(onlyHole.getLast().payload()).isEmpty();
    }

    @Test
    void blockStatusForBothContexts() {
        disk.disk.write(4096, MemorySegment.ofArray(new byte[4096]));
        disk.disk.write(2 * 4096, MemorySegment.ofArray(new byte[4096]));
        ByteBuffer b = session(structuredGo().request(0, CMD_BLOCK_STATUS, 3, 0, 4 * 4096)
                .request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 4, 0, 4 * 4096));
        skipOptionReplies(b, 3);
        List<Chunk> c = chunks(b);
        assertThat(c).extracting(Chunk::type, Chunk::flags).containsExactly(
                org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_BLOCK_STATUS, 0), org.assertj.core.groups.Tuple.tuple(REPLY_TYPE_BLOCK_STATUS, REPLY_FLAG_DONE));
        // base:allocation (id 1): hole+zero, data (two blocks merged), hole+zero; depth (id 2): 0, 2, 0
        assertThat(c.get(0).payload()).isEqualTo(new WireBytes().u32(1).u32(4096).u32(STATE_HOLE | STATE_ZERO).u32(8192).u32(0)
                .u32(4096).u32(STATE_HOLE | STATE_ZERO).bytes());
        assertThat(c.get(1).payload()).isEqualTo(new WireBytes().u32(2).u32(4096).u32(0).u32(8192).u32(2).u32(4096).u32(0).bytes());
        List<Chunk> one = chunks(b);
        assertThat(one.get(0).payload()).isEqualTo(new WireBytes().u32(1).u32(4096).u32(STATE_HOLE | STATE_ZERO).bytes());
        assertThat(one.get(1).payload()).isEqualTo(new WireBytes().u32(2).u32(4096).u32(0).bytes());
    }

    @Test
    void writesFlushWhenAskedOrWriteThrough() {
        ByteBuffer b = session(structuredGo().request(0, CMD_WRITE, 1, 0, 4).raw(new byte[] {1, 2, 3, 4})
                .request(CMD_FLAG_FUA, CMD_WRITE, 2, 8, 2).raw(new byte[] {5, 6})
                .request(0, CMD_TRIM, 3, 0, 8192).request(CMD_FLAG_FUA, CMD_TRIM, 4, 8192, 4096)
                .request(0, CMD_WRITE_ZEROES, 5, 0, 100).request(CMD_FLAG_NO_HOLE | CMD_FLAG_FUA, CMD_WRITE_ZEROES, 6, 200, 100)
                .request(0, CMD_FLUSH, 7, 0, 0).request(0, CMD_CACHE, 8, 0, 4096));
        skipOptionReplies(b, 3);
        for (long cookie = 1; cookie <= 8; cookie++) assertThat(simple(b)).containsExactly(0, cookie);
        assertThat(disk.calls).containsExactly("write 0+4", "write 8+2", "flush", "discard 0+8192", "discard 8192+4096", "flush",
                "zeroes 0+100 unmap", "zeroes 200+100", "flush", "flush");
        assertThat(b.hasRemaining()).isFalse();
    }

    @Test
    void writeThroughWithoutDiscardAndWithoutFlushes() {
        ByteBuffer b = session(export(false, true, false, null), FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES,
                new WireBytes().option(OPT_GO, exportRequest("ex")).request(0, CMD_WRITE, 1, 0, 1).raw(new byte[] {1})
                        .request(0, CMD_TRIM, 2, 0, 4096).request(0, CMD_WRITE_ZEROES, 3, 0, 10).request(0, CMD_FLUSH, 4, 0, 0));
        optionReplies(b);
        for (long cookie = 1; cookie <= 4; cookie++) assertThat(simple(b)).containsExactly(0, cookie);
        // --cache=unsafe: flushes never reach the disk; without discard: trims are ignored, zeroing keeps the blocks.
        assertThat(disk.calls).containsExactly("write 0+1", "zeroes 0+10");
        ByteBuffer wt = session(export(false, true, true, null), FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES,
                new WireBytes().option(OPT_GO, exportRequest("ex")).request(0, CMD_WRITE, 1, 0, 1).raw(new byte[] {1})
                        .request(0, CMD_TRIM, 2, 0, 4096).request(0, CMD_WRITE_ZEROES, 3, 0, 10));
        optionReplies(wt);
        assertThat(disk.calls).containsExactly("write 0+1", "zeroes 0+10", "write 0+1", "flush", "flush", "zeroes 0+10", "flush");
    }

    @Test
    void errorsAreStructuredWithTheirMessageOrSimple() {
        disk.failReads = new BlockException("No space left on device, " + "x".repeat(2000));
        ByteBuffer b = session(structuredGo().request(0, CMD_READ, 1, 0, 512).request(0, CMD_BLOCK_STATUS, 2, 0, 512)
                .request(CMD_FLAG_NO_HOLE, CMD_READ, 3, 0, 512));
        skipOptionReplies(b, 3);
        for (long cookie = 1; cookie <= 3; cookie++) {
            List<Chunk> c = chunks(b);
            assertThat(c).hasSize(1);
            assertThat(c.getFirst().type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(c.getFirst().cookie()).isEqualTo(cookie);
            ByteBuffer p = c.getFirst().p();
            int errno = p.getInt(), len = p.getShort();
            assertThat(errno).isEqualTo(cookie == 3 ? NbdErrno.EINVAL : NbdErrno.ENOSPC);
            assertThat(p.remaining()).isEqualTo(len);
            if (cookie < 3) assertThat(len).isEqualTo(1000);
            else assertThat(new String(c.getFirst().payload(), 6, len, StandardCharsets.UTF_8)).isEqualTo("invalid read request: EINVAL");
        }
        ByteBuffer s = session(new WireBytes().option(OPT_GO, exportRequest("ex")).request(0, CMD_READ, 4, 0, 512)
                .request(0, CMD_BLOCK_STATUS, 5, 0, 512));
        optionReplies(s);
        assertThat(simple(s)).containsExactly(NbdErrno.ENOSPC, 4);
        assertThat(simple(s)).containsExactly(NbdErrno.EINVAL, 5); // no structured replies: no block status
        assertThat(s.hasRemaining()).isFalse();
    }

    @Test
    void blockStatusWithoutAContextIsRefused() {
        ByteBuffer b = session(new WireBytes().option(OPT_STRUCTURED_REPLY, new byte[0]).option(OPT_GO, exportRequest("ex"))
                .request(0, CMD_BLOCK_STATUS, 1, 0, 512));
        skipOptionReplies(b, 2);
        ByteBuffer p = chunks(b).getFirst().p();
        assertThat(p.getInt()).isEqualTo(NbdErrno.EINVAL);
    }

    @Test
    void errnoForEachBlockFailure() {
        assertThat(NbdServerSession.errnoOf(new BlockException("disk is read-only"))).isEqualTo(NbdErrno.EPERM);
        assertThat(NbdServerSession.errnoOf(new BlockException("offset outside the disk"))).isEqualTo(NbdErrno.EINVAL);
        assertThat(NbdServerSession.errnoOf(new BlockException("write: No space left on device"))).isEqualTo(NbdErrno.ENOSPC);
        assertThat(NbdServerSession.errnoOf(new BlockException("Cannot allocate memory"))).isEqualTo(NbdErrno.ENOMEM);
        assertThat(NbdServerSession.errnoOf(new BlockException("checksum mismatch"))).isEqualTo(NbdErrno.EIO);
        assertThat(NbdServerSession.errnoOf(new BlockException((String) null))).isEqualTo(NbdErrno.EIO);
    }

    @Test
    void startTlsAfterStructuredRepliesForgetsNothingWithoutTls() {
        // Without TLS configured, STARTTLS is refused and what was negotiated stays.
        ByteBuffer b = session(new WireBytes().option(OPT_STRUCTURED_REPLY, new byte[0]).option(OPT_STARTTLS, new byte[0])
                .option(OPT_GO, exportRequest("ex")).request(0, CMD_FLUSH, 1, 0, 0));
        skipOptionReplies(b, 3);
        assertThat(simple(b)).containsExactly(0, 1);
    }

    @Test
    void negotiatedOnlyOnceTransmissionStarts() {
        ScriptedChannel out = new ScriptedChannel(new byte[0]);
        NbdServerSession s = new NbdServerSession(new ScriptedChannel(new WireBytes().u32(3).option(OPT_LIST, new byte[0]).bytes()), out,
                export(true, false, true, null), Runnable::run, log::add);
        s.run();
        assertThat(s.negotiated()).isFalse();
        NbdServerSession go = new NbdServerSession(new ScriptedChannel(new WireBytes().u32(3).option(OPT_GO, exportRequest("ex")).bytes()),
                out, export(true, false, true, null), Runnable::run, log::add);
        go.run();
        assertThat(go.negotiated()).isTrue();
    }
}
