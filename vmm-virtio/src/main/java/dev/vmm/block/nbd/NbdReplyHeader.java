package dev.vmm.block.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * The header of a transmission-phase reply: a simple reply (error, cookie; a READ's data follows)
 * or one structured reply chunk (flags, type, cookie, payload length; the payload follows).
 */
public sealed interface NbdReplyHeader {
    long cookie();

    record Simple(int error, long cookie) implements NbdReplyHeader {
        public ByteBuffer encode() {
            return ByteBuffer.allocate(SIMPLE_REPLY_SIZE).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
        }
    }

    record Chunk(int flags, int type, long cookie, long length) implements NbdReplyHeader {
        public boolean done() { return (flags & REPLY_FLAG_DONE) != 0; }

        public boolean isError() { return (type & REPLY_TYPE_FLAG_ERROR) != 0; }

        public ByteBuffer encode() {
            return ByteBuffer.allocate(STRUCTURED_HEADER_SIZE).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                    .putShort((short) type).putLong(cookie).putInt((int) length).flip();
        }
    }

    /**
     * Reads the next reply header. Structured chunks are accepted only when {@code structured} was
     * negotiated; unknown magics end the connection (the stream cannot be resynchronised).
     */
    static NbdReplyHeader read(ReadableByteChannel ch, boolean structured) throws IOException {
        ByteBuffer m = NbdIo.read(ch, 4);
        int magic = m.getInt();
        if (magic == SIMPLE_REPLY_MAGIC) {
            ByteBuffer b = NbdIo.read(ch, SIMPLE_REPLY_SIZE - 4);
            return new Simple(b.getInt(), b.getLong());
        }
        if (magic == STRUCTURED_REPLY_MAGIC) {
            if (!structured) throw new NbdProtocolException("structured reply chunk without NBD_OPT_STRUCTURED_REPLY");
            ByteBuffer b = NbdIo.read(ch, STRUCTURED_HEADER_SIZE - 4);
            int flags = Short.toUnsignedInt(b.getShort());
            int type = Short.toUnsignedInt(b.getShort());
            long cookie = b.getLong();
            long length = Integer.toUnsignedLong(b.getInt());
            if ((flags & ~REPLY_FLAG_DONE) != 0) throw new NbdProtocolException("structured reply with unknown flags 0x" + Integer.toHexString(flags));
            return new Chunk(flags, type, cookie, length);
        }
        throw new NbdProtocolException("bad reply magic 0x" + Integer.toHexString(magic));
    }
}
