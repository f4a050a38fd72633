package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The client's fixed-newstyle handshake ({@link NbdConnection#handshake}) byte by byte: what it
 * sends (client flags, the options in order and their payloads, proto.md's layouts) for each
 * server answer, what it concludes from the answers (size, flags, block sizes, base:allocation),
 * and the answers it must refuse at each boundary.
 */
@Timeout(10)
class NbdClientHandshakeTest {
    private static final int GREET = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

    /** What a client sent: its flags and its options ({option, data}). */
    record Sent(int clientFlags, List<Object[]> options) {
        List<Integer> names() { return options.stream().map(o -> (Integer) o[0]).toList(); }
        byte[] data(int i) { return (byte[]) options.get(i)[1]; }
    }

    private static Sent parse(byte[] written) {
        ByteBuffer b = ByteBuffer.wrap(written);
        int flags = b.getInt();
        List<Object[]> opts = new ArrayList<>();
        while (b.hasRemaining()) {
            assertThat(b.getLong()).isEqualTo(IHAVEOPT);
            int opt = b.getInt();
            byte[] d = new byte[b.getInt()];
            b.get(d);
            opts.add(new Object[] {opt, d});
        }
        return new Sent(flags, opts);
    }

    /** Replies for STRUCTURED_REPLY (ack) and SET_META_CONTEXT (base:allocation as {@code id}, ack). */
    private static WireBytes structuredWithContext(WireBytes w, int id) {
        byte[] name = BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
        return w.optionReply(OPT_STRUCTURED_REPLY, REP_ACK, new byte[0])
                .optionReply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, ByteBuffer.allocate(4 + name.length).putInt(id).put(name).array())
                .optionReply(OPT_SET_META_CONTEXT, REP_ACK, new byte[0]);
    }

    private static byte[] infoExport(long size, int flags) {
        return ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(size).putShort((short) flags).array();
    }

    private static byte[] blockSize(int min, int pref, int max) {
        return ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(min).putInt(pref).putInt(max).array();
    }

    private static WireBytes go(WireBytes w, byte[]... infos) {
        for (byte[] i : infos) w.optionReply(OPT_GO, REP_INFO, i);
        return w.optionReply(OPT_GO, REP_ACK, new byte[0]);
    }

    private static WireBytes standard() { return structuredWithContext(new WireBytes().greeting(GREET), 7); }

    private static NbdConnection.Negotiated negotiate(ScriptedChannel ch, String export) throws IOException {
        NbdConnection.Negotiated n = NbdConnection.handshake(ch, export);
        assertThat(ch.unread()).as("the whole server script was consumed").isZero();
        return n;
    }

    private static void refused(WireBytes w, Class<? extends Exception> type, String message) {
        assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(w.bytes()), "ex"))
                .isInstanceOf(type).hasMessageContaining(message);
    }

    @Test
    void aFullHandshakeSendsTheSpecsOptionsAndKeepsWhatTheServerSaid() throws IOException {
        ScriptedChannel ch = new ScriptedChannel(go(standard(), infoExport(1 << 30, FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_READ_ONLY),
                blockSize(512, 4096, 1 << 20)).bytes());
        NbdConnection.Negotiated n = negotiate(ch, "disk");
        assertThat(n).isEqualTo(new NbdConnection.Negotiated(1 << 30, FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_READ_ONLY, true, 7, 512, 1 << 20));
        assertThat(n.readOnly()).isTrue();
        assertThat(n.has(FLAG_SEND_FLUSH)).isTrue();
        assertThat(n.has(FLAG_SEND_TRIM)).isFalse();
        Sent s = parse(ch.written());
        assertThat(s.clientFlags()).isEqualTo(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        assertThat(s.names()).containsExactly(OPT_STRUCTURED_REPLY, OPT_SET_META_CONTEXT, OPT_GO);
        assertThat(s.data(0)).isEmpty();
        // SET_META_CONTEXT: name length, name, query count, query length, query
        ByteBuffer meta = ByteBuffer.wrap(s.data(1));
        assertThat(meta.getInt()).isEqualTo(4);
        byte[] name = new byte[4];
        meta.get(name);
        assertThat(new String(name, StandardCharsets.UTF_8)).isEqualTo("disk");
        assertThat(meta.getInt()).isEqualTo(1);
        assertThat(meta.getInt()).isEqualTo(BASE_ALLOCATION.length());
        // GO: name length, name, one information request: NBD_INFO_BLOCK_SIZE
        assertThat(s.data(2)).isEqualTo(ByteBuffer.allocate(4 + 4 + 2 + 2).putInt(4).put("disk".getBytes()).putShort((short) 1)
                .putShort((short) INFO_BLOCK_SIZE).array());
    }

    @Test
    void withoutNoZeroesTheClientSaysSoAndReadsTheOldExportNameReply() throws IOException {
        // GO unknown to the server: NBD_OPT_EXPORT_NAME, answered by size, flags and 124 zeroes.
        WireBytes w = new WireBytes().greeting(FLAG_FIXED_NEWSTYLE).optionReply(OPT_STRUCTURED_REPLY, REP_ERR_UNSUP, new byte[0])
                .optionReply(OPT_GO, REP_ERR_UNSUP, new byte[0]).u64(123456789L).u16(FLAG_HAS_FLAGS | FLAG_SEND_TRIM).raw(new byte[124]);
        ScriptedChannel ch = new ScriptedChannel(w.bytes());
        NbdConnection.Negotiated n = negotiate(ch, "old");
        assertThat(n).isEqualTo(new NbdConnection.Negotiated(123456789L, FLAG_HAS_FLAGS | FLAG_SEND_TRIM, false, -1, 1, MAX_PAYLOAD));
        Sent s = parse(ch.written());
        assertThat(s.clientFlags()).isEqualTo(FLAG_C_FIXED_NEWSTYLE);
        assertThat(s.names()).containsExactly(OPT_STRUCTURED_REPLY, OPT_GO, OPT_EXPORT_NAME);
        assertThat(new String(s.data(2), StandardCharsets.UTF_8)).isEqualTo("old");
    }

    @Test
    void exportNameFallbackWithNoZeroesReadsTenBytes() throws IOException {
        WireBytes w = new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_ERR_POLICY, new byte[0])
                .optionReply(OPT_GO, REP_ERR_UNSUP, new byte[0]).u64(4096).u16(FLAG_HAS_FLAGS);
        assertThat(negotiate(new ScriptedChannel(w.bytes()), "").size()).isEqualTo(4096);
    }

    @Test
    void greetingRules() {
        refused(new WireBytes().greeting(FLAG_NO_ZEROES), NbdProtocolException.class, "does not support the fixed newstyle handshake");
        refused(new WireBytes().u64(NBDMAGIC).u64(0x00420281861253L).u16(0), NbdProtocolException.class, "oldstyle handshake (magic 0x420281861253)");
        refused(new WireBytes().u64(0x1234).u64(IHAVEOPT).u16(GREET), NbdProtocolException.class, "greeting magic 0x1234");
    }

    @Test
    void structuredReplyAnswers() throws IOException {
        refused(new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_ACK, new byte[1]), NbdProtocolException.class, "NBD_REP_ACK with data");
        refused(new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_SERVER, new byte[0]), NbdProtocolException.class,
                "unexpected reply reply type 0x2 to NBD_OPT_STRUCTURED_REPLY");
        refused(new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_ERR_TLS_REQD, new byte[0]), BlockException.class,
                "the server requires TLS: use nbds://");
        // Refused: no structured replies and no SET_META_CONTEXT, straight to GO.
        ScriptedChannel ch = new ScriptedChannel(go(new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_ERR_UNSUP, new byte[0]),
                infoExport(512, FLAG_HAS_FLAGS)).bytes());
        NbdConnection.Negotiated n = negotiate(ch, "x");
        assertThat(n.structured()).isFalse();
        assertThat(n.baseAllocationId()).isEqualTo(-1);
        assertThat(parse(ch.written()).names()).containsExactly(OPT_STRUCTURED_REPLY, OPT_GO);
    }

    @Test
    void metaContextAnswers() throws IOException {
        WireBytes base = new WireBytes().greeting(GREET).optionReply(OPT_STRUCTURED_REPLY, REP_ACK, new byte[0]);
        // No context (an error, or just the ack): structured replies without block status.
        for (int type : new int[] {REP_ERR_UNSUP, REP_ACK}) {
            WireBytes w = go(new WireBytes().raw(base.bytes()).optionReply(OPT_SET_META_CONTEXT, type, new byte[0]), infoExport(512, 1));
            NbdConnection.Negotiated n = negotiate(new ScriptedChannel(w.bytes()), "");
            assertThat(n.structured()).isTrue();
            assertThat(n.baseAllocationId()).isEqualTo(-1);
        }
        refused(new WireBytes().raw(base.bytes()).optionReply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, new byte[3]), NbdProtocolException.class,
                "bad reply to NBD_OPT_SET_META_CONTEXT");
        refused(new WireBytes().raw(base.bytes()).optionReply(OPT_SET_META_CONTEXT, REP_SERVER, new byte[8]), NbdProtocolException.class,
                "bad reply to NBD_OPT_SET_META_CONTEXT");
        refused(new WireBytes().raw(base.bytes()).optionReply(OPT_SET_META_CONTEXT, REP_META_CONTEXT,
                ByteBuffer.allocate(4 + 14).putInt(3).put("qemu:dirty-bit".getBytes()).array()), NbdProtocolException.class,
                "selected meta context 'qemu:dirty-bit' it was not asked for");
        refused(new WireBytes().raw(base.bytes()).optionReply(OPT_SET_META_CONTEXT, REP_META_CONTEXT, new byte[4]), NbdProtocolException.class,
                "selected meta context '' it was not asked for");
        // A context id of 0 is as good as any other (only -1 means none).
        NbdConnection.Negotiated zero = negotiate(new ScriptedChannel(go(structuredWithContext(new WireBytes().greeting(GREET), 0),
                infoExport(512, 1)).bytes()), "");
        assertThat(zero.baseAllocationId()).isZero();
    }

    @Test
    void goAnswers() {
        refused(go(standard(), new byte[] {0}), NbdProtocolException.class, "NBD_REP_INFO without a type");
        refused(go(standard(), ByteBuffer.allocate(11).putShort((short) INFO_EXPORT).array()), NbdProtocolException.class,
                "NBD_INFO_EXPORT of 11 bytes (12 expected)");
        refused(go(standard(), ByteBuffer.allocate(13).putShort((short) INFO_EXPORT).array()), NbdProtocolException.class, "of 13 bytes");
        refused(go(standard(), ByteBuffer.allocate(13).putShort((short) INFO_BLOCK_SIZE).array()), NbdProtocolException.class,
                "NBD_INFO_BLOCK_SIZE of 13 bytes (14 expected)");
        refused(go(standard(), ByteBuffer.allocate(15).putShort((short) INFO_BLOCK_SIZE).array()), NbdProtocolException.class, "of 15 bytes");
        refused(standard().optionReply(OPT_GO, REP_SERVER, new byte[4]), NbdProtocolException.class, "unexpected reply reply type 0x2 to NBD_OPT_GO");
        refused(go(standard()), NbdProtocolException.class, "server sent no export size (size 18446744073709551615)");
        refused(go(standard(), infoExport(-2, 1)), NbdProtocolException.class, "server sent no export size (size 18446744073709551614)");
        refused(standard().optionReply(OPT_GO, REP_ERR_UNKNOWN, "no such\nexport".getBytes()), BlockException.class,
                "server refused export 'ex': unknown export (no such?export)");
        assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(standard().optionReply(OPT_GO, REP_ERR_POLICY, new byte[0]).bytes()), "ex"))
                .isInstanceOf(BlockException.class).hasMessageEndingWith("refused by policy");
    }

    @Test
    void blockSizeConstraintsAtTheirLimits() throws IOException {
        record Case(int min, int pref, int max, boolean ok) {}
        for (Case c : List.of(new Case(1, 1, 1, true), new Case(65536, 65536, 1 << 20, true), new Case(0, 4096, 1 << 20, false),
                new Case(131072, 131072, 1 << 20, false), new Case(3, 4096, 1 << 20, false), new Case(4096, 2048, 1 << 20, false),
                new Case(512, 3072, 1 << 20, false), new Case(512, 4096, 4095, false), new Case(512, 4096, 4096, true),
                new Case(512, 2 << 20, (1 << 20) - 1, false), new Case(512, 2 << 20, 1 << 20, true), new Case(-2147483648, 4096, 1 << 20, false),
                new Case(512, 4096, -1, true))) {
            WireBytes w = go(standard(), infoExport(1 << 20, 1), blockSize(c.min, c.pref, c.max));
            if (c.ok) {
                NbdConnection.Negotiated n = negotiate(new ScriptedChannel(w.bytes()), "ex");
                assertThat(n.minBlock()).as("%s", c).isEqualTo(c.min);
                assertThat(n.maxPayload()).as("%s", c).isEqualTo((int) Math.min(Integer.toUnsignedLong(c.max), MAX_PAYLOAD));
            } else {
                assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(w.bytes()), "ex")).as("%s", c)
                        .isInstanceOf(NbdProtocolException.class).hasMessageContaining("impossible block sizes min " + Integer.toUnsignedString(c.min));
            }
        }
    }

    @Test
    void anEmptyExportAndABareInformationTypeAreValid() throws IOException {
        NbdConnection.Negotiated n = negotiate(new ScriptedChannel(go(standard(), new byte[] {0, INFO_NAME}, infoExport(0, FLAG_HAS_FLAGS)).bytes()), "ex");
        assertThat(n.size()).isZero();
    }

    @Test
    void otherInformationIsSkippedAndFlagsNeedHasFlags() throws IOException {
        byte[] name = ByteBuffer.allocate(6).putShort((short) INFO_NAME).put("ex!!".getBytes()).array();
        NbdConnection.Negotiated n = negotiate(new ScriptedChannel(go(standard(), name, infoExport(8192, FLAG_READ_ONLY | FLAG_SEND_TRIM)).bytes()), "ex");
        assertThat(n.size()).isEqualTo(8192);
        // Without NBD_FLAG_HAS_FLAGS the other bits mean nothing: not read-only, no trim.
        assertThat(n.flags()).isEqualTo(FLAG_HAS_FLAGS);
        assertThat(n.minBlock()).isEqualTo(1);
        assertThat(n.maxPayload()).isEqualTo(MAX_PAYLOAD);
    }

    @Test
    void startTlsIsTheFirstOptionAndARefusalIsFinal() {
        WireBytes refusal = new WireBytes().greeting(GREET).optionReply(OPT_STARTTLS, REP_ERR_POLICY, "no TLS here".getBytes());
        ScriptedChannel ch = new ScriptedChannel(refusal.bytes());
        assertThatThrownBy(() -> NbdConnection.handshake(ch, "ex", () -> { throw new AssertionError("no engine before the ack"); }))
                .isInstanceOf(BlockException.class).hasMessage("server refused TLS (NBD_OPT_STARTTLS): refused by policy (no TLS here)");
        Sent s = parse(ch.written());
        assertThat(s.names()).containsExactly(OPT_STARTTLS);
        assertThat(s.data(0)).isEmpty();
        assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(new WireBytes().greeting(GREET)
                .optionReply(OPT_STARTTLS, REP_ERR_UNSUP, new byte[0]).bytes()), "ex", () -> null))
                .isInstanceOf(BlockException.class).hasMessage("server refused TLS (NBD_OPT_STARTTLS): unsupported");
        assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(new WireBytes().greeting(GREET)
                .optionReply(OPT_STARTTLS, REP_ACK, new byte[1]).bytes()), "ex", () -> null))
                .isInstanceOf(NbdProtocolException.class).hasMessage("unexpected reply reply type 0x1 to NBD_OPT_STARTTLS");
        assertThatThrownBy(() -> NbdConnection.handshake(new ScriptedChannel(new WireBytes().greeting(GREET)
                .optionReply(OPT_STARTTLS, REP_SERVER, new byte[0]).bytes()), "ex", () -> null))
                .isInstanceOf(NbdProtocolException.class).hasMessageContaining("reply type 0x2 to NBD_OPT_STARTTLS");
    }
}
