package dev.vmm.block.nbd;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageInfo;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * A disk on an NBD server, as a {@link BlockDevice}. Thread-safe and pipelined: concurrent callers'
 * requests share one connection, and a large request is split into pieces that are all in flight
 * at once.
 *
 * <p>With a reconnect delay, a lost connection does not fail requests at once: they wait while the
 * device reconnects (for up to the delay since the loss) and are then sent again. Writes the server
 * acknowledged but that no flush has yet made durable are kept and written again first after a
 * reconnect, so a server that died with them in a volatile cache loses none of them.
 */
public final class NbdBlockDevice implements BlockDevice {
    /** Unflushed acknowledged writes kept for replay before a flush is forced. */
    private static final long MAX_REPLAY_BYTES = 64 << 20;
    private static final long PIECE_LIMIT = 1L << 30; // trims and zeroes: well inside the 32-bit length

    private final NbdUri uri;
    private final boolean readOnly;
    private final long size;
    private final long reconnectNanos;
    private final Object reconnectLock = new Object();
    private volatile NbdConnection conn;
    private volatile boolean closed;

    /** Acknowledged, not yet flushed modifications, in acknowledgement order (replayed after a reconnect). */
    private record Replay(int type, int flags, long offset, long length, byte[] data) {}
    private final Map<Long, Replay> replay = new LinkedHashMap<>();
    private final AtomicLong replaySeq = new AtomicLong();
    private long replayBytes;

    private NbdBlockDevice(NbdUri uri, NbdConnection conn, boolean readOnly) {
        this.uri = uri;
        this.conn = conn;
        this.readOnly = readOnly;
        this.size = conn.negotiated().size();
        this.reconnectNanos = uri.reconnectDelaySeconds() * 1_000_000_000L;
    }

    /** Connects to the server; a read-write open of a read-only export is refused. */
    public static NbdBlockDevice open(NbdUri uri, boolean readOnly) {
        NbdConnection c;
        try {
            c = NbdConnection.open(uri);
        } catch (IOException e) {
            throw new BlockException(e.getMessage(), e);
        }
        if (!readOnly && c.negotiated().readOnly()) {
            c.close();
            throw new BlockException("NBD export " + uri + " is read-only (open it read-only)");
        }
        return new NbdBlockDevice(uri, c, readOnly);
    }

    public NbdUri uri() { return uri; }

    @Override public long size() { return size; }

    @Override public boolean readOnly() { return readOnly; }

    @Override public String format() { return "raw"; }

    @Override
    public ImageInfo info() { return ImageInfo.simple("raw", size); }

    @Override
    public void read(long offset, MemorySegment dst) {
        checkRange(offset, dst.byteSize());
        int max = maxPiece();
        long len = dst.byteSize();
        List<long[]> pieces = pieces(offset, len, max);
        List<NbdConnection.Pending> done = runAll(CMD_READ, 0, pieces, null, "read");
        for (int i = 0; i < pieces.size(); i++) {
            long[] pc = pieces.get(i);
            MemorySegment.copy(MemorySegment.ofArray(done.get(i).data()), 0, dst, pc[0] - offset, pc[1]);
        }
    }

    @Override
    public void write(long offset, MemorySegment src) {
        checkWritable();
        checkRange(offset, src.byteSize());
        List<long[]> pieces = pieces(offset, src.byteSize(), maxPiece());
        List<byte[]> payloads = new ArrayList<>();
        for (long[] pc : pieces) {
            payloads.add(src.asSlice(pc[0] - offset, pc[1]).toArray(ValueLayout.JAVA_BYTE));
        }
        runAll(CMD_WRITE, 0, pieces, payloads, "write");
    }

    @Override
    public void flush() {
        if (readOnly || !negotiated().has(FLAG_SEND_FLUSH)) return;
        long upTo = replaySeq.get();
        runAll(CMD_FLUSH, 0, List.of(new long[] {0, 0}), null, "flush");
        synchronized (replay) {
            Iterator<Map.Entry<Long, Replay>> it = replay.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<Long, Replay> e = it.next();
                if (e.getKey() >= upTo) break;
                Replay r = e.getValue();
                replayBytes -= r.data == null ? 0 : r.data.length;
                it.remove();
            }
        }
    }

    @Override
    public void discard(long offset, long length) {
        checkWritable();
        checkRange(offset, length);
        if (length == 0 || !negotiated().has(FLAG_SEND_TRIM)) return; // advisory
        runAll(CMD_TRIM, 0, pieces(offset, length, PIECE_LIMIT), null, "trim");
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) {
        checkWritable();
        checkRange(offset, length);
        if (length == 0) return;
        if (negotiated().has(FLAG_SEND_WRITE_ZEROES)) {
            runAll(CMD_WRITE_ZEROES, mayUnmap ? 0 : CMD_FLAG_NO_HOLE, pieces(offset, length, PIECE_LIMIT), null, "write-zeroes");
            return;
        }
        int max = maxPiece();
        MemorySegment zeroes = MemorySegment.ofArray(new byte[(int) Math.min(length, max)]);
        for (long done = 0; done < length; ) {
            long n = Math.min(zeroes.byteSize(), length - done);
            write(offset + done, zeroes.asSlice(0, n));
            done += n;
        }
    }

    @Override
    public Extent status(long offset, long maxLength) {
        checkRange(offset, 1);
        long max = Math.min(maxLength, size - offset);
        NbdConnection.Negotiated n = negotiated();
        if (n.baseAllocationId() < 0) return dataExtent(offset, max);
        long ask = Math.min(max, 0x8000_0000L);
        NbdConnection.Pending p = runAll(CMD_BLOCK_STATUS, CMD_FLAG_REQ_ONE, List.of(new long[] {offset, ask}), null, "block status").getFirst();
        long[] first = p.extents().getFirst();
        long len = Math.min(first[0], max);
        int flags = (int) first[1];
        boolean data = (flags & STATE_HOLE) == 0, zero = (flags & STATE_ZERO) != 0;
        return new Extent(offset, len, data, zero, 0, data ? offset : -1, data ? uri.toString() : null);
    }

    private Extent dataExtent(long offset, long len) {
        return new Extent(offset, len, true, false, 0, offset, uri.toString());
    }

    @Override
    public void close() {
        if (closed) return;
        try {
            if (!readOnly) flush();
        } finally {
            closed = true;
            conn.close();
        }
    }

    // ---- plumbing ----

    private NbdConnection.Negotiated negotiated() { return conn.negotiated(); }

    /**
     * Largest read or write sent as one request. Smaller than the server's limit on purpose: a big
     * request split into pieces that are all in flight lets the server work on them in parallel
     * (qemu-nbd and our server run requests concurrently), which is what makes a copy fast. Never
     * above the server's NBD_INFO_BLOCK_SIZE maximum (proto.md: a client MUST NOT exceed it).
     */
    private int maxPiece() { return Math.min(negotiated().maxPayload(), PIECE_SIZE); }

    private static final int PIECE_SIZE = 256 << 10;

    private static List<long[]> pieces(long offset, long length, long max) {
        List<long[]> l = new ArrayList<>();
        for (long done = 0; done < length; ) {
            long n = Math.min(max, length - done);
            l.add(new long[] {offset + done, n});
            done += n;
        }
        return l;
    }

    /**
     * Sends every piece (pipelined), waits for all replies and returns them in order. A lost
     * connection is retried after a reconnect when a delay is configured; a server error becomes a
     * {@link NbdErrorException} naming the errno.
     */
    private List<NbdConnection.Pending> runAll(int type, int flags, List<long[]> pieces, List<byte[]> payloads, String what) {
        if (closed) throw new BlockException("NBD disk " + uri + " is closed");
        long deadline = 0;
        boolean waiting = false;
        while (true) {
            NbdConnection c = conn;
            List<NbdConnection.Pending> sent = new ArrayList<>();
            try {
                for (int i = 0; i < pieces.size(); i++) {
                    long[] pc = pieces.get(i);
                    ByteBuffer payload = payloads == null ? null : ByteBuffer.wrap(payloads.get(i));
                    sent.add(c.submit(type, flags, pc[0], pc[1], payload));
                }
                List<NbdConnection.Pending> out = new ArrayList<>();
                for (NbdConnection.Pending p : sent) out.add(await(p));
                for (int i = 0; i < out.size(); i++) {
                    NbdConnection.Pending p = out.get(i);
                    if (p.errno() != 0) {
                        throw new NbdErrorException(uri + ": " + what + " at " + p.request().offset() + " failed: "
                                + NbdErrno.describe(p.errno()) + (p.message() == null || p.message().isEmpty() ? "" : ": " + p.message()), p.errno());
                    }
                }
                if (reconnectNanos > 0 && (type == CMD_WRITE || type == CMD_TRIM || type == CMD_WRITE_ZEROES)) {
                    remember(type, flags, pieces, payloads);
                }
                return out;
            } catch (NbdConnection.ConnectionLost e) {
                if (reconnectNanos == 0 || closed) throw new BlockException(uri + ": " + what + " failed: " + e.getMessage(), e);
                if (!waiting) {
                    waiting = true;
                    deadline = System.nanoTime() + reconnectNanos;
                }
                reconnect(c, deadline, e);
            } catch (IOException e) {
                if (e.getCause() instanceof NbdProtocolException pe) throw new NbdProtocolException(uri + ": " + pe.getMessage());
                throw new BlockException(uri + ": " + what + " failed: " + e.getMessage(), e);
            }
        }
    }

    private static NbdConnection.Pending await(NbdConnection.Pending p) throws IOException {
        try {
            return p.future().get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NbdConnection.ConnectionLost("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            throw new IOException(e.getCause());
        }
    }

    private void remember(int type, int flags, List<long[]> pieces, List<byte[]> payloads) {
        boolean mustFlush;
        synchronized (replay) {
            for (int i = 0; i < pieces.size(); i++) {
                byte[] data = payloads == null ? null : payloads.get(i);
                replay.put(replaySeq.getAndIncrement(), new Replay(type, flags, pieces.get(i)[0], pieces.get(i)[1], data));
                if (data != null) replayBytes += data.length;
            }
            mustFlush = replayBytes > MAX_REPLAY_BYTES;
        }
        if (mustFlush) flush();
    }

    /**
     * Replaces the failed connection {@code failed} (once, whoever comes first), retrying until
     * {@code deadline}; then replays the unflushed acknowledged writes on the new one.
     */
    private void reconnect(NbdConnection failed, long deadline, IOException cause) {
        synchronized (reconnectLock) {
            if (conn != failed && conn.alive()) return; // another thread already reconnected
            IOException last = cause;
            while (!closed) {
                if (System.nanoTime() - deadline > 0) {
                    throw new BlockException(uri + ": connection lost and not back within " + uri.reconnectDelaySeconds() + " s: " + last.getMessage(), last);
                }
                try {
                    NbdConnection c = NbdConnection.open(uri);
                    if (c.negotiated().size() != size) {
                        c.close();
                        throw new BlockException(uri + ": the export changed size across a reconnect (" + size + " -> " + c.negotiated().size() + ")");
                    }
                    replayOn(c);
                    conn = c;
                    return;
                } catch (IOException e) {
                    last = e; // the server is still (or again) away: keep trying until the deadline
                }
                try {
                    Thread.sleep(100); // retry interval while the server is away, not an ordering wait
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new BlockException(uri + ": interrupted while reconnecting");
                }
            }
            throw new BlockException("NBD disk " + uri + " is closed");
        }
    }

    private void replayOn(NbdConnection c) throws IOException {
        List<Replay> todo;
        synchronized (replay) {
            todo = new ArrayList<>(replay.values());
        }
        List<NbdConnection.Pending> sent = new ArrayList<>();
        for (Replay r : todo) {
            sent.add(c.submit(r.type, r.flags, r.offset, r.length, r.data == null ? null : ByteBuffer.wrap(r.data)));
        }
        for (NbdConnection.Pending p : sent) {
            await(p);
            if (p.errno() != 0) throw new NbdErrorException(uri + ": replaying a write after reconnect failed: " + NbdErrno.describe(p.errno()), p.errno());
        }
    }
}
