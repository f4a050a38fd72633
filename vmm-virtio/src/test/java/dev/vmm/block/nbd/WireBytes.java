package dev.vmm.block.nbd;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * Builds byte streams a peer sends, from the spec's layouts (proto.md) directly rather than with
 * our codecs, so that a test can say exactly the wrong thing and a codec's mistake is not mirrored.
 */
final class WireBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    byte[] bytes() { return out.toByteArray(); }

    WireBytes raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    WireBytes u16(int v) { return raw(ByteBuffer.allocate(2).putShort((short) v).array()); }

    WireBytes u32(long v) { return raw(ByteBuffer.allocate(4).putInt((int) v).array()); }

    WireBytes u64(long v) { return raw(ByteBuffer.allocate(8).putLong(v).array()); }

    /** Simple reply: magic, error, cookie (a read's data is appended by the caller). */
    WireBytes simple(int error, long cookie) { return u32(SIMPLE_REPLY_MAGIC).u32(error).u64(cookie); }

    /** Structured chunk header with a payload length as given (it may lie). */
    WireBytes chunk(int flags, int type, long cookie, long length) {
        return u32(STRUCTURED_REPLY_MAGIC).u16(flags).u16(type).u64(cookie).u32(length);
    }

    /** An NBD_REPLY_TYPE_OFFSET_DATA chunk carrying {@code data} at {@code offset}. */
    WireBytes data(boolean done, long cookie, long offset, byte[] data) {
        return chunk(done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, cookie, 8 + data.length).u64(offset).raw(data);
    }

    /** An NBD_REPLY_TYPE_OFFSET_HOLE chunk. */
    WireBytes hole(boolean done, long cookie, long offset, long size) {
        return chunk(done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE, cookie, 12).u64(offset).u32(size);
    }

    /** An error chunk of {@code type} with its message and (for ERROR_OFFSET) the offset. */
    WireBytes error(boolean done, int type, long cookie, int errno, String message, Long offset) {
        byte[] m = message.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        chunk(done ? REPLY_FLAG_DONE : 0, type, cookie, 6 + m.length + (offset == null ? 0 : 8)).u32(errno).u16(m.length).raw(m);
        return offset == null ? this : u64(offset);
    }

    /** A BLOCK_STATUS chunk for context {@code id} with {length, flags} descriptors. */
    WireBytes status(boolean done, long cookie, int id, long... lengthFlags) {
        chunk(done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_BLOCK_STATUS, cookie, 4 + 4L * lengthFlags.length).u32(id);
        for (long v : lengthFlags) u32(v);
        return this;
    }

    /** The server's greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
    WireBytes greeting(int flags) { return u64(NBDMAGIC).u64(IHAVEOPT).u16(flags); }

    /** One option reply with {@code data}. */
    WireBytes optionReply(int option, int type, byte[] data) {
        return u64(OPTION_REPLY_MAGIC).u32(option).u32(type).u32(data.length).raw(data);
    }

    /** A client option: IHAVEOPT, option, length, data. */
    WireBytes option(int option, byte[] data) { return u64(IHAVEOPT).u32(option).u32(data.length).raw(data); }

    /** A request header (a write's payload is appended by the caller). */
    WireBytes request(int flags, int type, long cookie, long offset, long length) {
        return u32(REQUEST_MAGIC).u16(flags).u16(type).u64(cookie).u64(offset).u32(length);
    }

    static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 31 + seed);
        return b;
    }
}
