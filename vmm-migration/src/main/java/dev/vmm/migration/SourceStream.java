package dev.vmm.migration;

import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.StateWriter;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.zip.CRC32C;
import java.util.zip.CheckedOutputStream;

/**
 * The source → destination direction of the wire format ({@link MigrationProtocol}): one method per
 * record, the running CRC32C, the wire-byte count and the {@code max-bandwidth} limit (on during
 * the live phase only). Migration thread only, except {@link #transferred()}.
 */
final class SourceStream {
    private final DataOutputStream out;
    private final CRC32C crc = new CRC32C();
    private final RateLimiter limiter;
    private volatile long transferred;
    private boolean limited;

    SourceStream(OutputStream wire, RateLimiter limiter) {
        this.limiter = limiter;
        out = new DataOutputStream(new CheckedOutputStream(new Metered(new BufferedOutputStream(wire, 256 * 1024)), crc));
    }

    /** Wire bytes written so far (headers and checksums included). */
    long transferred() { return transferred; }

    /** Applies {@code max-bandwidth} (the live phase) or not (stop-and-copy: all of it is downtime, as QEMU). */
    void rateLimited(boolean on) { limited = on; }

    void header(int pageSize, int capabilities, GuestRegion[] regions) throws IOException {
        out.write(MigrationProtocol.MAGIC);
        out.writeInt(MigrationProtocol.VERSION);
        out.writeByte(MigrationProtocol.SETUP);
        out.writeInt(pageSize);
        out.writeInt(capabilities);
        out.writeInt(regions.length);
        for (GuestRegion r : regions) {
            out.writeLong(r.base());
            out.writeLong(r.size());
        }
        writeCrc();
    }

    void zeroPage(long pfn) throws IOException {
        out.writeByte(MigrationProtocol.ZERO);
        out.writeLong(pfn);
    }

    void fullPage(long pfn, byte[] page, int pageSize) throws IOException {
        out.writeByte(MigrationProtocol.FULL);
        out.writeLong(pfn);
        out.write(page, 0, pageSize);
    }

    void deltaPage(long pfn, byte[] delta, int length) throws IOException {
        out.writeByte(MigrationProtocol.XBZRLE);
        out.writeLong(pfn);
        out.writeShort(length);
        out.write(delta, 0, length);
    }

    void endIteration(int iteration) throws IOException {
        out.writeByte(MigrationProtocol.END_ITERATION);
        out.writeInt(iteration);
        writeCrc();
    }

    /** The device state: {@code vm} writes its sections, then the state stream's end marker. */
    void deviceState(VmControl vm) throws Exception {
        out.writeByte(MigrationProtocol.DEVICE);
        StateWriter w = new StateWriter(MigrationProtocol.nonClosing(out));
        vm.writeDeviceState(w);
        w.close();
    }

    void complete(long pageRecords) throws IOException {
        out.writeByte(MigrationProtocol.COMPLETE);
        out.writeLong(pageRecords);
        writeCrc();
    }

    void go() throws IOException {
        out.writeByte(MigrationProtocol.GO);
        flush();
    }

    void flush() throws IOException {
        out.flush();
    }

    private void writeCrc() throws IOException {
        int value = (int) crc.getValue();
        out.writeInt(value);
        crc.reset();
    }

    /** Counts wire bytes and applies the bandwidth limit during the live phase. */
    private final class Metered extends FilterOutputStream {
        Metered(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            if (limited) limiter.acquire(1);
            out.write(b);
            transferred++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (limited) limiter.acquire(len);
            out.write(b, off, len);
            transferred += len;
        }
    }
}
