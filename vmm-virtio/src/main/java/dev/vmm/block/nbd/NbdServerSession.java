package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import dev.vmm.block.nbd.tls.TlsChannel;
import dev.vmm.block.nbd.tls.TlsErrors;
import dev.vmm.block.nbd.tls.X509Credentials;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * The server side of one NBD connection: fixed-newstyle handshake, then requests until the client
 * disconnects. Every request is validated before it is executed ({@link NbdRequest#check}); a
 * request that is merely wrong gets an error reply and the connection goes on, a broken stream
 * (bad magic, a write payload too large to skip) ends it.
 *
 * <p>Requests run concurrently on {@code executor} (at most {@link #MAX_IN_FLIGHT} per connection),
 * their replies written whole under one lock; with a direct executor they run in order, which is
 * what the fuzz target uses.
 */
public final class NbdServerSession implements Runnable {
    public static final int MAX_IN_FLIGHT = 64;
    /** Extents per BLOCK_STATUS reply: bounds the reply and the time spent walking a fragmented image. */
    private static final int MAX_EXTENTS = 2048;
    private static final int CONTEXT_BASE_ALLOCATION = 1, CONTEXT_ALLOCATION_DEPTH = 2;
    private static final NbdBufferPool POOL = new NbdBufferPool();

    // Replaced by the TLS channel after NBD_OPT_STARTTLS (by the handshaking thread, before any
    // request runs on another thread: the executor hand-off publishes them).
    private ReadableByteChannel in;
    private WritableByteChannel out;
    private final NbdExport export;
    /** FORCEDTLS when set: every option but STARTTLS and ABORT is refused until TLS is up. */
    private final X509Credentials tls;
    private TlsChannel tlsChannel;
    private final Executor executor;
    private final Consumer<String> log;
    private final ReentrantLock sendLock = new ReentrantLock();
    private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
    private boolean noZeroes, structured;
    private final Map<Integer, String> contexts = new LinkedHashMap<>();
    private volatile boolean broken;
    private volatile boolean negotiated;

    public NbdServerSession(ReadableByteChannel in, WritableByteChannel out, NbdExport export, Executor executor, Consumer<String> log) {
        this(in, out, export, null, executor, log);
    }

    /** @param tls server credentials: TLS is then required (the spec's FORCEDTLS mode); null: no TLS */
    public NbdServerSession(ReadableByteChannel in, WritableByteChannel out, NbdExport export, X509Credentials tls, Executor executor, Consumer<String> log) {
        this.in = in;
        this.out = out;
        this.export = export;
        this.tls = tls;
        this.executor = executor;
        this.log = log;
    }

    @Override
    public void run() {
        try {
            if (handshake()) {
                negotiated = true;
                transmission();
            }
        } catch (EOFException | ClosedChannelException e) {
            // The client went away: nothing to report.
        } catch (NbdProtocolException e) {
            log.accept("client broke the protocol: " + e.getMessage());
        } catch (IOException e) {
            // Reset or broken pipe: the client went away mid-message, which is its right (hard disconnect).
        } finally {
            inFlight.acquireUninterruptibly(MAX_IN_FLIGHT); // let running requests finish their replies
            if (tlsChannel != null) {
                try {
                    tlsChannel.close(); // close_notify before the connection is dropped, as the spec asks
                } catch (IOException ignored) {
                    // the client is gone already
                }
            }
        }
    }

    /** Whether the handshake has completed (the server's handshake deadline no longer applies). */
    public boolean negotiated() { return negotiated; }

    // ---- handshake ----

    /** @return true when the client chose the export and transmission starts */
    private boolean handshake() throws IOException {
        send(ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip());
        int clientFlags = NbdIo.read(in, 4).getInt();
        if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new NbdProtocolException("unknown client flags 0x" + Integer.toHexString(clientFlags));
        }
        noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        while (true) {
            NbdOption o = NbdOption.read(in);
            int opt = o.option();
            if (tls != null && tlsChannel == null && opt != OPT_STARTTLS && opt != OPT_ABORT) {
                if (opt == OPT_EXPORT_NAME) {
                    // This option cannot be refused with a reply: the spec says to end the session.
                    log.accept("client asked for an export without TLS, which this server requires");
                    return false;
                }
                reply(NbdOptionReply.error(opt, REP_ERR_TLS_REQD, "TLS is required: send NBD_OPT_STARTTLS first"));
                continue;
            }
            try {
                switch (opt) {
                    case OPT_EXPORT_NAME -> {
                        String name = NbdIo.string(o.data(), 0, o.data().length, "export name");
                        if (!name.equals(export.name())) {
                            // This option cannot fail with a reply: the spec says to drop the connection.
                            log.accept("client asked for unknown export '" + NbdIo.printable(name) + "'");
                            return false;
                        }
                        ByteBuffer b = ByteBuffer.allocate(noZeroes ? 10 : 134);
                        b.putLong(export.device().size()).putShort((short) export.transmissionFlags());
                        send(b.clear());
                        return true;
                    }
                    case OPT_ABORT -> {
                        reply(NbdOptionReply.ack(opt));
                        return false;
                    }
                    case OPT_LIST -> {
                        if (o.data().length != 0) {
                            reply(NbdOptionReply.error(opt, REP_ERR_INVALID, "NBD_OPT_LIST takes no data"));
                        } else {
                            reply(NbdOptionReply.server(opt, export.name(), null));
                            reply(NbdOptionReply.ack(opt));
                        }
                    }
                    case OPT_STARTTLS -> {
                        if (tls == null) reply(NbdOptionReply.error(opt, REP_ERR_POLICY, "TLS is not configured on this server"));
                        else if (tlsChannel != null) reply(NbdOptionReply.error(opt, REP_ERR_INVALID, "TLS is already active"));
                        else if (o.data().length != 0) reply(NbdOptionReply.error(opt, REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data"));
                        else if (!startTls(opt)) return false;
                    }
                    case OPT_INFO, OPT_GO -> {
                        if (exportInfo(opt, NbdOption.ExportRequest.decode(o.data())) && opt == OPT_GO) return true;
                    }
                    case OPT_STRUCTURED_REPLY -> {
                        if (o.data().length != 0) reply(NbdOptionReply.error(opt, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data"));
                        else {
                            structured = true;
                            reply(NbdOptionReply.ack(opt));
                        }
                    }
                    case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(opt, NbdOption.MetaContextRequest.decode(o.data()));
                    default -> reply(NbdOptionReply.error(opt, REP_ERR_UNSUP, "unsupported option " + Integer.toUnsignedString(opt)));
                }
            } catch (NbdProtocolException e) {
                // The option's length kept us in step with the stream: refuse the option, keep the connection.
                reply(NbdOptionReply.error(opt, REP_ERR_INVALID, e.getMessage()));
            }
        }
    }

    /**
     * Acknowledges STARTTLS and runs the TLS handshake; from then on everything goes through TLS.
     * Options negotiated before (none can be, in FORCEDTLS mode) are forgotten.
     * @return false when the handshake failed and the session must end
     */
    private boolean startTls(int opt) throws IOException {
        reply(NbdOptionReply.ack(opt));
        try {
            tlsChannel = TlsChannel.handshake(in, out, tls.serverEngine());
        } catch (javax.net.ssl.SSLException e) {
            log.accept("TLS handshake with a client failed: " + TlsErrors.oneLine(e));
            return false;
        }
        in = tlsChannel;
        out = tlsChannel;
        structured = false;
        contexts.clear();
        return true;
    }

    private boolean exportInfo(int opt, NbdOption.ExportRequest r) throws IOException {
        if (!r.name().equals(export.name())) {
            reply(NbdOptionReply.error(opt, REP_ERR_UNKNOWN, "export '" + NbdIo.printable(r.name()) + "' not present"));
            return false;
        }
        reply(NbdOptionReply.infoExport(opt, export.device().size(), export.transmissionFlags()));
        if (r.infos().contains(INFO_NAME)) reply(NbdOptionReply.infoString(opt, INFO_NAME, export.name()));
        if (r.infos().contains(INFO_DESCRIPTION) && export.description() != null) {
            reply(NbdOptionReply.infoString(opt, INFO_DESCRIPTION, export.description()));
        }
        // Any alignment works (min 1); 4 KiB is efficient; 32 MiB is the largest payload accepted.
        reply(NbdOptionReply.infoBlockSize(opt, 1, 4096, MAX_PAYLOAD));
        reply(NbdOptionReply.ack(opt));
        return true;
    }

    private void metaContext(int opt, NbdOption.MetaContextRequest r) throws IOException {
        if (opt == OPT_SET_META_CONTEXT && !structured) {
            reply(NbdOptionReply.error(opt, REP_ERR_INVALID, "NBD_OPT_SET_META_CONTEXT needs structured replies first"));
            return;
        }
        if (!r.exportName().equals(export.name())) {
            reply(NbdOptionReply.error(opt, REP_ERR_UNKNOWN, "export '" + NbdIo.printable(r.exportName()) + "' not present"));
            return;
        }
        Map<Integer, String> available = new LinkedHashMap<>();
        available.put(CONTEXT_BASE_ALLOCATION, BASE_ALLOCATION);
        if (export.allocationDepth()) available.put(CONTEXT_ALLOCATION_DEPTH, QEMU_ALLOCATION_DEPTH);
        Map<Integer, String> chosen = new LinkedHashMap<>();
        if (r.queries().isEmpty() && opt == OPT_LIST_META_CONTEXT) chosen.putAll(available);
        for (String q : r.queries()) {
            for (Map.Entry<Integer, String> e : available.entrySet()) {
                String name = e.getValue();
                String namespace = name.substring(0, name.indexOf(':') + 1);
                boolean match = q.equals(name) || (opt == OPT_LIST_META_CONTEXT && q.equals(namespace));
                if (match) chosen.put(e.getKey(), name);
            }
        }
        if (opt == OPT_SET_META_CONTEXT) {
            contexts.clear();
            contexts.putAll(chosen);
        }
        for (Map.Entry<Integer, String> e : chosen.entrySet()) reply(NbdOptionReply.metaContext(opt, e.getKey(), e.getValue()));
        reply(NbdOptionReply.ack(opt));
    }

    private void reply(NbdOptionReply r) throws IOException { send(r.encode()); }

    // ---- transmission ----

    private void transmission() throws IOException {
        while (!broken) {
            NbdRequest r = NbdRequest.decode(NbdIo.read(in, REQUEST_HEADER_SIZE));
            NbdBufferPool.Buffer payload = null;
            if (r.type() == CMD_WRITE) {
                if (r.length() > MAX_PAYLOAD) {
                    throw new NbdProtocolException("write of " + r.length() + " bytes (at most " + MAX_PAYLOAD + ")");
                }
                payload = POOL.take(r.length());
                NbdIo.readFully(in, payload.data().asByteBuffer());
            }
            if (r.type() == CMD_DISC) return; // run()'s finally waits for the requests in flight
            int errno = r.check(export.device().size(), export.transmissionFlags(), structured, contexts.size());
            if (errno == 0 && r.type() == CMD_BLOCK_STATUS && r.length() == 0) errno = NbdErrno.EINVAL;
            if (errno != 0) {
                POOL.give(payload);
                sendError(r, errno, "invalid " + commandName(r.type()) + " request: " + NbdErrno.name(errno));
                continue;
            }
            inFlight.acquireUninterruptibly();
            NbdBufferPool.Buffer p = payload;
            executor.execute(() -> {
                try {
                    execute(r, p);
                } catch (IOException e) {
                    broken = true; // the reply could not be sent: the connection is gone
                } finally {
                    POOL.give(p);
                    inFlight.release();
                }
            });
        }
    }

    private void execute(NbdRequest r, NbdBufferPool.Buffer payload) throws IOException {
        try {
            switch (r.type()) {
                case CMD_READ -> { read(r); return; }
                case CMD_WRITE -> {
                    export.device().write(r.offset(), payload.data());
                    if ((r.flags() & CMD_FLAG_FUA) != 0 || export.writeThrough()) flush();
                }
                case CMD_FLUSH -> flush();
                case CMD_TRIM -> {
                    if (export.discard()) export.device().discard(r.offset(), r.length());
                    if ((r.flags() & CMD_FLAG_FUA) != 0 || export.writeThrough()) flush();
                }
                case CMD_WRITE_ZEROES -> {
                    boolean mayUnmap = export.discard() && (r.flags() & CMD_FLAG_NO_HOLE) == 0;
                    // Zeroing is a metadata update or fallocate in every format written here, never a slow
                    // write of zero bytes, so NBD_CMD_FLAG_FAST_ZERO needs no refusal.
                    export.device().writeZeroes(r.offset(), r.length(), mayUnmap);
                    if ((r.flags() & CMD_FLAG_FUA) != 0 || export.writeThrough()) flush();
                }
                case CMD_CACHE -> { /* Advisory; the host page cache already holds what was read. */ }
                case CMD_BLOCK_STATUS -> { blockStatus(r); return; }
                default -> throw new IllegalStateException("unchecked command " + r.type());
            }
        } catch (BlockException e) {
            sendError(r, errnoOf(e), e.getMessage());
            return;
        }
        sendDone(r);
    }

    private void flush() {
        if (export.flushes()) export.device().flush();
    }

    private void read(NbdRequest r) throws IOException {
        NbdBufferPool.Buffer buf = POOL.take(r.length());
        try {
            MemorySegment data = buf.data();
            // Read everything first: an error can still be reported as the request's only reply.
            List<long[]> holes = new ArrayList<>(); // {offset, length} relative to the request
            boolean sparse = structured && (r.flags() & CMD_FLAG_DF) == 0;
            if (sparse) {
                for (long done = 0; done < r.length(); ) {
                    Extent e = export.device().status(r.offset() + done, r.length() - done);
                    long n = Math.min(e.length(), r.length() - done);
                    if (e.zero() && !e.data()) holes.add(new long[] {done, n});
                    else export.device().read(r.offset() + done, data.asSlice(done, n));
                    done += n;
                }
            } else {
                export.device().read(r.offset(), data);
            }
            sendLock.lock();
            try {
                if (!structured) {
                    send(new NbdReplyHeader.Simple(0, r.cookie()).encode(), data.asByteBuffer());
                    return;
                }
                long pos = 0;
                for (int i = 0; i <= holes.size(); i++) {
                    long holeAt = i < holes.size() ? holes.get(i)[0] : r.length();
                    boolean last = i == holes.size();
                    if (holeAt > pos) {
                        boolean done = last;
                        send(new NbdReplyHeader.Chunk(done ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, r.cookie(), 8 + holeAt - pos).encode(),
                                ByteBuffer.allocate(8).putLong(0, r.offset() + pos), data.asSlice(pos, holeAt - pos).asByteBuffer());
                    } else if (last) {
                        send(new NbdReplyHeader.Chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, r.cookie(), 0).encode());
                    }
                    if (!last) {
                        long[] h = holes.get(i);
                        send(new NbdReplyHeader.Chunk(0, REPLY_TYPE_OFFSET_HOLE, r.cookie(), 12).encode(),
                                ByteBuffer.allocate(12).putLong(r.offset() + h[0]).putInt((int) h[1]).flip());
                        pos = h[0] + h[1];
                    }
                }
            } finally {
                sendLock.unlock();
            }
        } catch (BlockException e) {
            sendError(r, errnoOf(e), e.getMessage());
        } finally {
            POOL.give(buf);
        }
    }

    private void blockStatus(NbdRequest r) throws IOException {
        boolean one = (r.flags() & CMD_FLAG_REQ_ONE) != 0;
        List<ByteBuffer> chunks = new ArrayList<>();
        List<Integer> ids = new ArrayList<>(contexts.keySet());
        try {
            for (int id : ids) {
                List<long[]> descs = new ArrayList<>(); // {length, flags}
                for (long done = 0; done < r.length() && descs.size() < MAX_EXTENTS; ) {
                    Extent e = export.device().status(r.offset() + done, r.length() - done);
                    long n = Math.min(e.length(), r.length() - done);
                    long flags = id == CONTEXT_BASE_ALLOCATION
                            ? (e.data() ? 0 : STATE_HOLE) | (e.zero() ? STATE_ZERO : 0)
                            : (e.data() ? e.depth() + 1 : 0);
                    if (!descs.isEmpty() && descs.getLast()[1] == flags) descs.getLast()[0] += n;
                    else descs.add(new long[] {n, flags});
                    done += n;
                    if (one) break;
                }
                ByteBuffer b = ByteBuffer.allocate(4 + 8 * descs.size()).putInt(id);
                for (long[] d : descs) b.putInt((int) d[0]).putInt((int) d[1]);
                chunks.add(b.flip());
            }
        } catch (BlockException e) {
            sendError(r, errnoOf(e), e.getMessage());
            return;
        }
        sendLock.lock();
        try {
            for (int i = 0; i < chunks.size(); i++) {
                ByteBuffer c = chunks.get(i);
                int flags = i == chunks.size() - 1 ? REPLY_FLAG_DONE : 0;
                send(new NbdReplyHeader.Chunk(flags, REPLY_TYPE_BLOCK_STATUS, r.cookie(), c.remaining()).encode(), c);
            }
        } finally {
            sendLock.unlock();
        }
    }

    /** The errno a block-layer failure is reported with (the spec's small set). */
    static int errnoOf(BlockException e) {
        String m = String.valueOf(e.getMessage());
        if (m.contains("read-only")) return NbdErrno.EPERM;
        if (m.contains("outside the disk")) return NbdErrno.EINVAL;
        if (m.contains("No space left")) return NbdErrno.ENOSPC;
        if (m.contains("Cannot allocate memory")) return NbdErrno.ENOMEM;
        return NbdErrno.EIO;
    }

    private void sendDone(NbdRequest r) throws IOException {
        send(new NbdReplyHeader.Simple(0, r.cookie()).encode());
    }

    private void sendError(NbdRequest r, int errno, String message) throws IOException {
        if (structured) {
            byte[] msg = NbdIo.utf8(message.length() > 1000 ? message.substring(0, 1000) : message);
            ByteBuffer p = ByteBuffer.allocate(6 + msg.length).putInt(errno).putShort((short) msg.length).put(msg).flip();
            send(new NbdReplyHeader.Chunk(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, r.cookie(), p.remaining()).encode(), p);
        } else {
            send(new NbdReplyHeader.Simple(errno, r.cookie()).encode());
        }
    }

    private void send(ByteBuffer... bufs) throws IOException {
        sendLock.lock();
        try {
            NbdIo.writeFully(out, bufs);
        } finally {
            sendLock.unlock();
        }
    }
}
