package dev.vmm.block.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Whole-message reads and writes on blocking channels, and the spec's string rules. */
public final class NbdIo {
    private NbdIo() {}

    /** Fills {@code b} completely; end of stream before that is an {@link EOFException}. */
    public static void readFully(ReadableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) throw new EOFException("connection closed by the peer");
        }
    }

    public static ByteBuffer read(ReadableByteChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        readFully(ch, b);
        return b.flip();
    }

    /** Reads and drops {@code n} bytes (a payload we refuse but must stay in sync past). */
    public static void skip(ReadableByteChannel ch, long n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(n, 65536));
        while (n > 0) {
            b.clear().limit((int) Math.min(n, b.capacity()));
            readFully(ch, b);
            n -= b.position();
        }
    }

    public static void writeFully(WritableByteChannel ch, ByteBuffer... bufs) throws IOException {
        if (ch instanceof dev.vmm.block.nbd.tls.TlsChannel t) {
            t.write(bufs); // gathered into as few TLS records as fit (one per buffer would be wasteful)
            return;
        }
        for (ByteBuffer b : bufs) {
            while (b.hasRemaining()) ch.write(b);
        }
    }

    /** Decodes a protocol string: valid UTF-8, no NUL, at most {@link NbdConstants#MAX_STRING} bytes. */
    public static String string(byte[] bytes, int offset, int length, String what) {
        if (length > NbdConstants.MAX_STRING) throw new NbdProtocolException(what + " is " + length + " bytes long (at most 4096)");
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, offset, length)).toString();
            if (s.indexOf('\0') >= 0) throw new NbdProtocolException(what + " contains a NUL character");
            return s;
        } catch (CharacterCodingException e) {
            throw new NbdProtocolException(what + " is not valid UTF-8");
        }
    }

    public static byte[] utf8(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > NbdConstants.MAX_STRING) throw new IllegalArgumentException("string longer than 4096 bytes: " + s.substring(0, 40) + "...");
        return b;
    }

    /** A peer-supplied string for a one-line message: control characters replaced, length capped. */
    public static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < 200; i++) {
            char c = s.charAt(i);
            sb.append(Character.isISOControl(c) ? '?' : c);
        }
        return sb.toString();
    }
}
