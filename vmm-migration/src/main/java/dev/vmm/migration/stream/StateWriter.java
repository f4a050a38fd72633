package dev.vmm.migration.stream;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;
import java.util.zip.CheckedOutputStream;

/**
 * Writes a VM state stream: a header, then named, versioned sections, each followed by a CRC32C
 * of its payload, then an end marker. Snapshots and migration share it, so a section written by
 * one is read by the other, and a newer VMM keeps reading the versions older ones wrote.
 *
 * <pre>
 * stream  = "VMMSTATE" u32:format-version section* u8:0
 * section = u8:1 utf:name u32:version u64:length payload u32:crc32c(payload)
 * </pre>
 */
public final class StateWriter implements AutoCloseable {
    public static final byte[] MAGIC = "VMMSTATE".getBytes(StandardCharsets.US_ASCII);
    public static final int FORMAT_VERSION = 1;

    private final DataOutputStream out;

    public StateWriter(OutputStream out) throws IOException {
        this.out = new DataOutputStream(out);
        this.out.write(MAGIC);
        this.out.writeInt(FORMAT_VERSION);
    }

    /** The payload of one section, written through a checksum. */
    @FunctionalInterface
    public interface Payload {
        void write(DataOutputStream out) throws IOException;
    }

    /** Writes a section whose payload is exactly {@code length} bytes long (checked). */
    public void section(String name, int version, long length, Payload payload) throws IOException {
        out.writeByte(1);
        out.writeUTF(name);
        out.writeInt(version);
        out.writeLong(length);
        CRC32C crc = new CRC32C();
        CountingStream counting = new CountingStream(new CheckedOutputStream(out, crc));
        DataOutputStream p = new DataOutputStream(counting);
        payload.write(p);
        p.flush();
        if (counting.count != length) {
            throw new IllegalStateException("section " + name + " wrote " + counting.count + " bytes, announced " + length);
        }
        out.writeInt((int) crc.getValue());
    }

    /** Writes a section from bytes. */
    public void section(String name, int version, byte[] payload) throws IOException {
        section(name, version, payload.length, o -> o.write(payload));
    }

    @Override
    public void close() throws IOException {
        out.writeByte(0);
        out.flush();
        out.close();
    }

    private static final class CountingStream extends java.io.FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
