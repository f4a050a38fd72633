package dev.vmm.migration.stream;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;

/**
 * Reads what {@link StateWriter} wrote, one section at a time, checking the header, each
 * section's declared length and CRC. A handler consumes each payload; sections with a name no
 * handler knows, or a version newer than the handler supports, stop the read with a clear message.
 */
public final class StateReader implements AutoCloseable {
    /** Reads one section's payload; {@code version} is what the writer declared. */
    public interface Handler {
        /** The newest payload version this handler understands for {@code name}, or -1 if unknown. */
        int maxVersion(String name);

        void read(String name, int version, long length, DataInputStream payload) throws IOException;
    }

    private final DataInputStream in;
    private final int formatVersion;

    public StateReader(InputStream in) throws IOException {
        this.in = new DataInputStream(in);
        byte[] magic = new byte[StateWriter.MAGIC.length];
        try {
            this.in.readFully(magic);
        } catch (EOFException e) {
            throw new StateFormatException("not a vmm state stream (too short)");
        }
        if (!Arrays.equals(magic, StateWriter.MAGIC)) throw new StateFormatException("not a vmm state stream (bad magic)");
        formatVersion = this.in.readInt();
        if (formatVersion < 1 || formatVersion > StateWriter.FORMAT_VERSION) {
            throw new StateFormatException("state stream format " + formatVersion + " is newer than this vmm understands ("
                    + StateWriter.FORMAT_VERSION + ")");
        }
    }

    public int formatVersion() { return formatVersion; }

    /** Reads every section through {@code handler} until the end marker. */
    public void readAll(Handler handler) throws IOException {
        try {
            while (true) {
                int tag = in.readUnsignedByte();
                if (tag == 0) return;
                if (tag != 1) throw new StateFormatException("corrupt state stream (bad section tag " + tag + ")");
                String name = in.readUTF();
                int version = in.readInt();
                long length = in.readLong();
                if (length < 0) throw new StateFormatException("section " + name + ": negative length");
                int max = handler.maxVersion(name);
                if (max < 0) throw new StateFormatException("state stream has a section '" + name + "' this vmm does not understand");
                if (version < 1 || version > max) {
                    throw new StateFormatException("section '" + name + "' has version " + version + ", this vmm reads up to " + max);
                }
                CRC32C crc = new CRC32C();
                BoundedStream bounded = new BoundedStream(new CheckedInputStream(in, crc), length);
                DataInputStream payload = new DataInputStream(bounded);
                handler.read(name, version, length, payload);
                if (bounded.remaining != 0) throw new StateFormatException("section '" + name + "': " + bounded.remaining + " bytes left unread");
                int expected = in.readInt();
                if (expected != (int) crc.getValue()) throw new StateFormatException("section '" + name + "': checksum mismatch");
            }
        } catch (EOFException e) {
            throw new StateFormatException("state stream is truncated");
        }
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    /** Lets a handler read at most its section's payload. */
    private static final class BoundedStream extends InputStream {
        private final InputStream in;
        long remaining;

        BoundedStream(InputStream in, long length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read() throws IOException {
            if (remaining <= 0) return -1;
            int b = in.read();
            if (b < 0) throw new EOFException();
            remaining--;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (remaining <= 0) return -1;
            int n = in.read(b, off, (int) Math.min(len, remaining));
            if (n < 0) throw new EOFException();
            remaining -= n;
            return n;
        }
    }
}
