package dev.vmm.block.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

import static dev.vmm.block.nbd.NbdConstants.*;

/** One server reply to an option (magic, option, reply type, length, data). */
public record NbdOptionReply(int option, int type, byte[] data) {

    public boolean isError() { return (type & REP_FLAG_ERROR) != 0; }

    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(20 + data.length);
        b.putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type).putInt(data.length).put(data);
        return b.flip();
    }

    /**
     * Reads one reply to {@code expectedOption}: the magic, the echoed option and the length are
     * checked before anything sized by the length is allocated.
     */
    public static NbdOptionReply read(ReadableByteChannel ch, int expectedOption) throws IOException {
        ByteBuffer h = NbdIo.read(ch, 20);
        long magic = h.getLong();
        if (magic != OPTION_REPLY_MAGIC) throw new NbdProtocolException("bad option reply magic 0x" + Long.toHexString(magic));
        int option = h.getInt();
        int type = h.getInt();
        long length = Integer.toUnsignedLong(h.getInt());
        if (option != expectedOption) {
            throw new NbdProtocolException("server answered " + optionName(option) + " to " + optionName(expectedOption));
        }
        if (length > MAX_OPTION_LENGTH) throw new NbdProtocolException("option reply of " + length + " bytes (at most " + MAX_OPTION_LENGTH + ")");
        return new NbdOptionReply(option, type, NbdIo.read(ch, (int) length).array());
    }

    /** The server's message in an error reply, or "" (it is optional). */
    public String errorMessage() {
        try {
            return NbdIo.printable(NbdIo.string(data, 0, Math.min(data.length, MAX_STRING), "error message"));
        } catch (NbdProtocolException e) {
            return "";
        }
    }

    public static NbdOptionReply ack(int option) { return new NbdOptionReply(option, REP_ACK, new byte[0]); }

    public static NbdOptionReply error(int option, int type, String message) {
        return new NbdOptionReply(option, type, NbdIo.utf8(message));
    }

    /** NBD_REP_INFO with NBD_INFO_EXPORT: size and transmission flags. */
    public static NbdOptionReply infoExport(int option, long size, int flags) {
        return new NbdOptionReply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(size).putShort((short) flags).array());
    }

    public static NbdOptionReply infoString(int option, int info, String s) {
        byte[] b = NbdIo.utf8(s);
        return new NbdOptionReply(option, REP_INFO, ByteBuffer.allocate(2 + b.length).putShort((short) info).put(b).array());
    }

    public static NbdOptionReply infoBlockSize(int option, int min, int preferred, int max) {
        return new NbdOptionReply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE)
                .putInt(min).putInt(preferred).putInt(max).array());
    }

    public static NbdOptionReply server(int option, String name, String description) {
        byte[] n = NbdIo.utf8(name), d = NbdIo.utf8(description == null ? "" : description);
        return new NbdOptionReply(option, REP_SERVER, ByteBuffer.allocate(4 + n.length + d.length).putInt(n.length).put(n).put(d).array());
    }

    public static NbdOptionReply metaContext(int option, int id, String name) {
        byte[] n = NbdIo.utf8(name);
        return new NbdOptionReply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + n.length).putInt(id).put(n).array());
    }
}
