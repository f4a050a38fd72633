package dev.vmm.block.nbd;

import java.nio.ByteBuffer;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * One transmission-phase request header (28 bytes). {@code length} is the unsigned 32-bit length,
 * widened; a WRITE's payload follows the header on the wire.
 */
public record NbdRequest(int flags, int type, long cookie, long offset, long length) {

    public ByteBuffer encode() {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_SIZE);
        b.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset)
                .putInt((int) length);
        return b.flip();
    }

    /** Decodes a header; a wrong magic is a protocol violation (the stream cannot be resynchronised). */
    public static NbdRequest decode(ByteBuffer b) {
        int magic = b.getInt();
        if (magic != REQUEST_MAGIC) throw new NbdProtocolException("bad request magic 0x" + Integer.toHexString(magic));
        int flags = Short.toUnsignedInt(b.getShort());
        int type = Short.toUnsignedInt(b.getShort());
        long cookie = b.getLong();
        long offset = b.getLong();
        long length = Integer.toUnsignedLong(b.getInt());
        return new NbdRequest(flags, type, cookie, offset, length);
    }

    /**
     * Checks a request against the export: returns 0 when it may be executed, else the errno to
     * answer with (the spec's choices: EINVAL for bad flags and ranges, EPERM for writes to a
     * read-only export, ENOSPC for writes past the end, EOVERFLOW for reads too large for one reply).
     */
    public int check(long exportSize, int transmissionFlags, boolean structured, int metaContexts) {
        int known = switch (type) {
            case CMD_READ -> CMD_FLAG_DF;
            case CMD_WRITE -> CMD_FLAG_FUA;
            case CMD_WRITE_ZEROES -> CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO;
            case CMD_TRIM -> CMD_FLAG_FUA;
            case CMD_BLOCK_STATUS -> CMD_FLAG_REQ_ONE;
            case CMD_FLUSH, CMD_CACHE, CMD_DISC -> 0;
            default -> -1;
        };
        if (known < 0) return NbdErrno.EINVAL;
        if ((flags & ~known) != 0) return NbdErrno.EINVAL;
        if ((flags & CMD_FLAG_DF) != 0 && !structured) return NbdErrno.EINVAL;
        boolean modifies = type == CMD_WRITE || type == CMD_TRIM || type == CMD_WRITE_ZEROES;
        if (modifies && (transmissionFlags & FLAG_READ_ONLY) != 0) return NbdErrno.EPERM;
        if (type == CMD_FLUSH || type == CMD_DISC) return (offset == 0 && length == 0) || type == CMD_DISC ? 0 : NbdErrno.EINVAL;
        if (type == CMD_TRIM && (transmissionFlags & FLAG_SEND_TRIM) == 0) return NbdErrno.EINVAL;
        if (type == CMD_WRITE_ZEROES && (transmissionFlags & FLAG_SEND_WRITE_ZEROES) == 0) return NbdErrno.EINVAL;
        if (type == CMD_BLOCK_STATUS && (!structured || metaContexts == 0)) return NbdErrno.EINVAL;
        if ((type == CMD_READ || type == CMD_WRITE) && length > MAX_PAYLOAD) return NbdErrno.EOVERFLOW;
        if (type != CMD_BLOCK_STATUS && length == 0 && type != CMD_CACHE) return NbdErrno.EINVAL;
        if (offset < 0 || offset > exportSize || length > exportSize - offset) {
            return type == CMD_WRITE || type == CMD_WRITE_ZEROES ? NbdErrno.ENOSPC : NbdErrno.EINVAL;
        }
        return 0;
    }
}
