package dev.vmm.block.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * One option the client sends during the handshake (IHAVEOPT, option, length, data), and the
 * payloads of the options that have structure (INFO/GO, LIST/SET_META_CONTEXT).
 */
public record NbdOption(int option, byte[] data) {

    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        b.putLong(IHAVEOPT).putInt(option).putInt(data.length).put(data);
        return b.flip();
    }

    /**
     * Reads one option; a wrong magic or a payload longer than {@link NbdConstants#MAX_OPTION_LENGTH}
     * ends the handshake (the spec lets a server drop a client that breaks a MUST).
     */
    public static NbdOption read(ReadableByteChannel ch) throws IOException {
        ByteBuffer h = NbdIo.read(ch, 16);
        long magic = h.getLong();
        if (magic != IHAVEOPT) throw new NbdProtocolException("bad option magic 0x" + Long.toHexString(magic));
        int option = h.getInt();
        long length = Integer.toUnsignedLong(h.getInt());
        if (length > MAX_OPTION_LENGTH) throw new NbdProtocolException(optionName(option) + " has " + length + " bytes of data (at most " + MAX_OPTION_LENGTH + ")");
        return new NbdOption(option, NbdIo.read(ch, (int) length).array());
    }

    /** NBD_OPT_INFO / NBD_OPT_GO payload: export name and the NBD_INFO_* items asked for. */
    public record ExportRequest(String name, List<Integer> infos) {
        public byte[] encode() {
            byte[] n = NbdIo.utf8(name);
            ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.size());
            b.putInt(n.length).put(n).putShort((short) infos.size());
            for (int i : infos) b.putShort((short) i);
            return b.array();
        }

        public static ExportRequest decode(byte[] data) {
            ByteBuffer b = ByteBuffer.wrap(data);
            if (b.remaining() < 4) throw new NbdProtocolException("export request shorter than its name length");
            long n = Integer.toUnsignedLong(b.getInt());
            if (n > b.remaining()) throw new NbdProtocolException("export name length " + n + " runs past the option");
            String name = NbdIo.string(data, 4, (int) n, "export name");
            b.position(4 + (int) n);
            if (b.remaining() < 2) throw new NbdProtocolException("export request has no information request count");
            int count = Short.toUnsignedInt(b.getShort());
            if (b.remaining() != 2 * count) throw new NbdProtocolException("export request with " + count + " information requests has " + b.remaining() + " bytes for them");
            List<Integer> infos = new ArrayList<>();
            for (int i = 0; i < count; i++) infos.add(Short.toUnsignedInt(b.getShort()));
            return new ExportRequest(name, infos);
        }
    }

    /** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT payload: export name and context queries. */
    public record MetaContextRequest(String exportName, List<String> queries) {
        public byte[] encode() {
            byte[] n = NbdIo.utf8(exportName);
            List<byte[]> qs = queries.stream().map(NbdIo::utf8).toList();
            int len = 4 + n.length + 4 + qs.stream().mapToInt(q -> 4 + q.length).sum();
            ByteBuffer b = ByteBuffer.allocate(len);
            b.putInt(n.length).put(n).putInt(qs.size());
            for (byte[] q : qs) b.putInt(q.length).put(q);
            return b.array();
        }

        public static MetaContextRequest decode(byte[] data) {
            ByteBuffer b = ByteBuffer.wrap(data);
            String name = lengthPrefixed(b, data, "export name");
            if (b.remaining() < 4) throw new NbdProtocolException("meta context request has no query count");
            long count = Integer.toUnsignedLong(b.getInt());
            if (count > b.remaining() / 4) throw new NbdProtocolException("meta context request claims " + count + " queries in " + b.remaining() + " bytes");
            List<String> queries = new ArrayList<>();
            for (long i = 0; i < count; i++) queries.add(lengthPrefixed(b, data, "meta context query"));
            if (b.hasRemaining()) throw new NbdProtocolException("meta context request has " + b.remaining() + " trailing bytes");
            return new MetaContextRequest(name, queries);
        }
    }

    static String lengthPrefixed(ByteBuffer b, byte[] data, String what) {
        if (b.remaining() < 4) throw new NbdProtocolException(what + " length missing");
        long n = Integer.toUnsignedLong(b.getInt());
        if (n > b.remaining()) throw new NbdProtocolException(what + " length " + n + " runs past the message");
        String s = NbdIo.string(data, b.position(), (int) n, what);
        b.position(b.position() + (int) n);
        return s;
    }
}
