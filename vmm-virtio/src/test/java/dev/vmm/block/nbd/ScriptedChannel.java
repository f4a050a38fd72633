package dev.vmm.block.nbd;

import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;

/**
 * A channel whose reads come from fixed bytes (then end of stream) and whose writes are kept (for
 * tests that look at what was sent): a peer for fuzzing and for byte-level tests.
 */
final class ScriptedChannel implements ByteChannel {
    private final ByteBuffer in;
    private final java.io.ByteArrayOutputStream written = new java.io.ByteArrayOutputStream();
    private boolean open = true;

    ScriptedChannel(byte[] input) { this.in = ByteBuffer.wrap(input); }

    @Override
    public int read(ByteBuffer dst) {
        if (!in.hasRemaining()) return -1;
        int n = Math.min(dst.remaining(), in.remaining());
        ByteBuffer slice = in.slice(in.position(), n);
        dst.put(slice);
        in.position(in.position() + n);
        return n;
    }

    @Override
    public int write(ByteBuffer src) {
        int n = src.remaining();
        byte[] b = new byte[n];
        src.get(b);
        written.writeBytes(b);
        return n;
    }

    /** Everything written so far. */
    byte[] written() { return written.toByteArray(); }

    /** Bytes not read yet. */
    int unread() { return in.remaining(); }

    @Override public boolean isOpen() { return open; }
    @Override public void close() { open = false; }
}
