package dev.vmm.migration;

import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.xbzrle.Xbzrle;
import dev.vmm.migration.xbzrle.XbzrleFormatException;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channels;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;

/**
 * The receiving side ({@code --incoming}): reads the stream of {@link MigrationProtocol} into the
 * target's RAM, checks every iteration's CRC, loads the device state, answers READY, and starts the
 * target only on the source's GO. Every value from the stream is validated (page numbers inside
 * RAM, delta lengths, XBZRLE runs, layout equal to this machine's); any problem — or the source
 * going away — ends in {@link IncomingTarget#discard}, a NAK with the reason to the source, and a
 * {@link MigrationException}.
 */
public final class MigrationDestination {
    /** Compared with, never written: one for the process. */
    private static final MemorySegment ZERO_PAGE = java.lang.foreign.Arena.global().allocate(MigrationProtocol.MAX_PAGE, 4096);

    private final IncomingTarget target;
    private final GuestRegion[] regions;

    private volatile MigrationStatus status = MigrationStatus.NONE;
    private volatile long received;
    private volatile long pages;
    private volatile long iterations;
    private volatile String errorDesc;
    private volatile long startNanos;
    private volatile long endNanos;

    public MigrationDestination(IncomingTarget target) {
        this.target = Objects.requireNonNull(target);
        this.regions = target.memory().regions().toArray(GuestRegion[]::new);
    }

    public MigrationStatus status() { return status; }

    /** The destination's {@code query-migrate}: status, total-time, ram.transferred, pages, error-desc. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (status == MigrationStatus.NONE) return m;
        m.put("status", status.qmpName());
        long end = endNanos != 0 ? endNanos : System.nanoTime();
        m.put("total-time", (end - startNanos) / 1_000_000);
        m.put("ram", Map.of("transferred", received, "x-page-records", pages, "dirty-sync-count", iterations));
        if (errorDesc != null) m.put("error-desc", errorDesc);
        return m;
    }

    /**
     * Warms up the target's state loading ({@link IncomingTarget#rehearseLoad}) before any stream
     * arrives; call while waiting for the source. A failure is the target's own: reported, not fatal.
     */
    public void rehearse() throws MigrationException {
        try {
            target.rehearseLoad();
        } catch (Exception e) {
            throw new MigrationException("rehearsing the device-state load failed: " + e.getMessage(), e);
        }
    }

    /** Receives a migration over a connected channel, which is closed afterwards. Blocks until done. */
    public void run(ByteChannel channel) throws MigrationException {
        try (channel) {
            run(Channels.newInputStream(channel), Channels.newOutputStream(channel));
        } catch (IOException e) {
            if (e instanceof MigrationException me) throw me;
            throw new MigrationException("incoming migration failed: " + e.getMessage(), e);
        }
    }

    /** Receives a migration from {@code in}, replying on {@code out}. Blocks until done. */
    public void run(InputStream in, OutputStream out) throws MigrationException {
        startNanos = System.nanoTime();
        status = MigrationStatus.ACTIVE;
        DataOutputStream reply = new DataOutputStream(out);
        BufferedInputStream buffered = new BufferedInputStream(in, 256 * 1024);
        boolean started = false;
        try {
            receive(buffered, reply);
            reply.writeByte(MigrationProtocol.READY);
            reply.flush();
            int go;
            try {
                go = buffered.read();
            } catch (IOException e) {
                go = -1;
            }
            if (go != MigrationProtocol.GO) {
                throw new MigrationException(go < 0 ? "the source went away before confirming the switch-over"
                        : String.format("the source sent 0x%02x instead of GO", go));
            }
            started = true; // a failure of start() is the target's own, not a migration failure to discard
            target.start();
            endNanos = System.nanoTime();
            status = MigrationStatus.COMPLETED;
        } catch (Throwable t) {
            endNanos = System.nanoTime();
            String why = reason(t);
            errorDesc = why;
            status = MigrationStatus.FAILED;
            if (!started) {
                try {
                    reply.writeByte(MigrationProtocol.NAK);
                    reply.writeUTF(why.length() > 1000 ? why.substring(0, 1000) : why);
                    reply.flush();
                } catch (IOException | RuntimeException ignored) {
                    // the source may be gone already
                }
                try {
                    target.discard(t);
                } catch (RuntimeException ignored) {
                    // the failure below is what matters
                }
            }
            if (t instanceof MigrationException me) throw me;
            throw new MigrationException(why, t);
        }
    }

    private static String reason(Throwable t) {
        if (t instanceof MigrationException) return t.getMessage();
        if (t instanceof StateFormatException) return "device state rejected: " + t.getMessage();
        if (t instanceof EOFException) return "migration stream truncated (the source went away?)";
        String m = t.getMessage() != null ? t.getMessage() : t.toString();
        if (t instanceof IOException) return "incoming migration failed: " + m;
        return "incoming migration failed: " + m;
    }

    private void receive(InputStream raw, DataOutputStream reply) throws Exception {
        CRC32C crc = new CRC32C();
        Counting counting = new Counting(raw);
        DataInputStream in = new DataInputStream(new CheckedInputStream(counting, crc));

        byte[] magic = new byte[MigrationProtocol.MAGIC.length];
        in.readFully(magic);
        if (!Arrays.equals(magic, MigrationProtocol.MAGIC)) throw corrupt(counting, "not a migration stream (bad magic)");
        int version = in.readInt();
        if (version != MigrationProtocol.VERSION) {
            throw new MigrationException("migration stream version " + version + " is not supported (this vmm speaks "
                    + MigrationProtocol.VERSION + ")");
        }
        if (in.readUnsignedByte() != MigrationProtocol.SETUP) throw corrupt(counting, "setup record missing");
        int pageSize = in.readInt();
        if (Integer.bitCount(pageSize) != 1 || pageSize < MigrationProtocol.MIN_PAGE || pageSize > MigrationProtocol.MAX_PAGE) {
            throw corrupt(counting, "page size " + pageSize + " is not supported");
        }
        int caps = in.readInt();
        if ((caps & ~MigrationProtocol.KNOWN_CAPS) != 0) {
            throw new MigrationException(String.format("the source uses capabilities 0x%x this vmm does not know", caps));
        }
        int n = in.readInt();
        if (n < 0 || n > MigrationProtocol.MAX_REGIONS) throw corrupt(counting, "implausible region count " + n);
        long[][] layout = new long[n][];
        for (int i = 0; i < n; i++) layout[i] = new long[] {in.readLong(), in.readLong()};
        checkCrc(in, crc, counting, "setup");
        checkLayout(layout);

        long[] firstPfn = new long[regions.length];
        long[] lastPfn = new long[regions.length];
        for (int i = 0; i < regions.length; i++) {
            firstPfn[i] = regions[i].base() / pageSize;
            lastPfn[i] = firstPfn[i] + regions[i].size() / pageSize;
        }
        byte[] page = new byte[pageSize];
        byte[] delta = new byte[pageSize];
        MemorySegment deltaSeg = MemorySegment.ofArray(delta);
        boolean xbzrle = (caps & MigrationProtocol.CAP_XBZRLE) != 0;
        boolean ack = (caps & MigrationProtocol.CAP_ITERATION_ACK) != 0;
        long records = 0;
        while (true) {
            int type = in.readUnsignedByte();
            switch (type) {
                case MigrationProtocol.ZERO, MigrationProtocol.FULL, MigrationProtocol.XBZRLE -> {
                    long pfn = in.readLong();
                    int r = regionOf(pfn, firstPfn, lastPfn);
                    if (r < 0) throw corrupt(counting, String.format("page 0x%x lies outside guest RAM", pfn));
                    MemorySegment host = regions[r].host();
                    long off = (pfn - firstPfn[r]) * pageSize;
                    if (type == MigrationProtocol.ZERO) {
                        // Most of a fresh target's RAM is never written: reading it maps the shared
                        // zero page, writing would allocate it (RSS, page faults) for nothing.
                        if (MemorySegment.mismatch(host, off, off + pageSize, ZERO_PAGE, 0, pageSize) >= 0) {
                            host.asSlice(off, pageSize).fill((byte) 0);
                        }
                    } else if (type == MigrationProtocol.FULL) {
                        in.readFully(page);
                        MemorySegment.copy(MemorySegment.ofArray(page), 0, host, off, pageSize);
                    } else {
                        if (!xbzrle) throw corrupt(counting, "XBZRLE page although the source did not announce xbzrle");
                        int len = in.readUnsignedShort();
                        if (len == 0 || len >= pageSize) throw corrupt(counting, "XBZRLE delta length " + len + " out of range");
                        in.readFully(delta, 0, len);
                        try {
                            Xbzrle.decode(deltaSeg, 0, len, host, off, pageSize);
                        } catch (XbzrleFormatException e) {
                            throw corrupt(counting, String.format("bad XBZRLE delta for page 0x%x: %s", pfn, e.getMessage()));
                        }
                    }
                    records++;
                    pages = records;
                }
                case MigrationProtocol.END_ITERATION -> {
                    int it = in.readInt();
                    checkCrc(in, crc, counting, "iteration " + it);
                    if (ack) {
                        reply.writeByte(MigrationProtocol.ACK);
                        reply.writeInt(it);
                        reply.flush();
                    }
                    iterations++;
                }
                case MigrationProtocol.DEVICE -> {
                    StateReader reader = new StateReader(MigrationProtocol.nonClosing(in));
                    target.loadDeviceState(reader);
                }
                case MigrationProtocol.COMPLETE -> {
                    long sent = in.readLong();
                    checkCrc(in, crc, counting, "completion");
                    if (sent != records) {
                        throw corrupt(counting, "the source sent " + sent + " page records, " + records + " arrived");
                    }
                    received = counting.count;
                    return;
                }
                default -> throw corrupt(counting, String.format("unknown record type 0x%02x", type));
            }
            received = counting.count;
        }
    }

    private void checkLayout(long[][] layout) throws MigrationException {
        boolean same = layout.length == regions.length;
        for (int i = 0; same && i < layout.length; i++) {
            same = layout[i][0] == regions[i].base() && layout[i][1] == regions[i].size();
        }
        if (!same) {
            StringBuilder src = new StringBuilder();
            for (long[] r : layout) src.append(String.format(" 0x%x+0x%x", r[0], r[1]));
            StringBuilder dst = new StringBuilder();
            for (GuestRegion r : regions) dst.append(String.format(" 0x%x+0x%x", r.base(), r.size()));
            throw new MigrationException("the source's RAM layout [" + src.toString().trim()
                    + "] does not match this machine's [" + dst.toString().trim() + "] (same -m on both sides?)");
        }
    }

    private static int regionOf(long pfn, long[] first, long[] last) {
        for (int i = 0; i < first.length; i++) if (pfn >= first[i] && pfn < last[i]) return i;
        return -1;
    }

    private static void checkCrc(DataInputStream in, CRC32C crc, Counting counting, String what) throws IOException {
        int expected = (int) crc.getValue();
        int got = in.readInt();
        crc.reset();
        if (got != expected) throw corrupt(counting, "checksum mismatch in " + what + " (damaged stream)");
    }

    private static MigrationException corrupt(Counting c, String what) {
        return new MigrationException("corrupt migration stream at byte " + c.count + ": " + what);
    }

    /** Counts bytes read, for progress and for error positions. */
    private static final class Counting extends FilterInputStream {
        long count;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }
    }

    List<GuestRegion> regions() { return List.of(regions); }
}
