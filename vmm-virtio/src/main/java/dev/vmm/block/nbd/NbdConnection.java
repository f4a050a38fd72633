package dev.vmm.block.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import dev.vmm.block.nbd.tls.TlsChannel;
import dev.vmm.block.nbd.tls.TlsErrors;
import dev.vmm.block.nbd.tls.X509Credentials;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import java.util.function.Supplier;

import static dev.vmm.block.nbd.NbdConstants.*;

/**
 * One client connection to an NBD server: the handshake, then pipelined requests. Any number of
 * threads {@link #submit} requests (each with a fresh cookie, written whole under one lock); one
 * reader thread matches every reply to its request by cookie and completes it, so requests overlap
 * on the wire as the virtqueues' many in-flight requests need.
 *
 * <p>Every reply is checked against its request before anything is stored: unknown cookies, data or
 * holes outside the request, lengths that do not fit, reply types the request cannot have, a read
 * not fully covered. A violation fails every request in flight with an {@link NbdProtocolException}
 * and closes the connection; a lost connection fails them with {@link ConnectionLost}.
 */
public final class NbdConnection implements AutoCloseable {
    /** Cap for replies that are not read data (block status, errors): more is a hostile server. */
    private static final long MAX_METADATA_REPLY = 1 << 20;

    /** The connection died (EOF, reset, closed): the request may be retried on a new connection. */
    public static final class ConnectionLost extends IOException {
        public ConnectionLost(String message, Throwable cause) { super(message, cause); }
    }

    /** What the handshake negotiated. */
    public record Negotiated(long size, int flags, boolean structured, int baseAllocationId, int minBlock, int maxPayload) {
        public boolean readOnly() { return (flags & FLAG_READ_ONLY) != 0; }
        public boolean has(int flag) { return (flags & flag) != 0; }
    }

    /** A request in flight and what its replies have delivered so far. */
    public static final class Pending {
        final NbdRequest request;
        final byte[] data;              // READ: the bytes read (holes left zero)
        final List<long[]> extents = new ArrayList<>(); // BLOCK_STATUS: {length, flags}
        final ReadCoverage covered = new ReadCoverage(); // READ: ranges delivered by data and hole chunks
        int errno;                      // first error reported, 0 if none
        String message;
        final CompletableFuture<Pending> done = new CompletableFuture<>();

        Pending(NbdRequest request) {
            this.request = request;
            this.data = request.type() == CMD_READ ? new byte[(int) request.length()] : null;
        }

        public NbdRequest request() { return request; }
        public byte[] data() { return data; }
        public List<long[]> extents() { return extents; }
        public int errno() { return errno; }
        public String message() { return message; }
        public CompletableFuture<Pending> future() { return done; }
    }

    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("nbd-handshake-watchdog").unstarted(r));
    /** How long a server may take over the handshake (tests shorten it). */
    static volatile long handshakeTimeoutMillis = 30_000;

    private final ByteChannel channel;
    private final Negotiated negotiated;
    private final ReentrantLock sendLock = new ReentrantLock();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong(1);
    private volatile IOException failure;
    private final Thread reader;

    private NbdConnection(ByteChannel channel, Negotiated negotiated, boolean startReader) {
        this.channel = channel;
        this.negotiated = negotiated;
        this.reader = startReader ? Thread.ofPlatform().daemon().name("nbd-reply-reader").start(this::readLoop) : null;
    }

    /** Connects and negotiates; a server that is down is a {@link ConnectionLost}, a bad one a protocol error. */
    public static NbdConnection open(NbdUri uri) throws IOException {
        // Credentials first: a bad directory is the user's to fix, not a reason to connect (or retry).
        X509Credentials creds = uri.tls() == null ? null : X509Credentials.load(uri.tls().credentials(), X509Credentials.Endpoint.CLIENT, true);
        SocketChannel ch;
        try {
            if (uri.socket() != null) {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(uri.socket()));
            } else {
                ch = SocketChannel.open(new InetSocketAddress(uri.host(), uri.port()));
                ch.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
            }
        } catch (IOException e) {
            throw new ConnectionLost("cannot connect to " + uri + ": " + e.getMessage(), e);
        }
        // A server that accepts and then says nothing must not hang the open: a watchdog closes the
        // channel when the handshake (TLS included) overruns, which ends the blocked read.
        java.util.concurrent.atomic.AtomicBoolean timedOut = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ScheduledFuture<?> watchdog = WATCHDOG.schedule(() -> {
            timedOut.set(true);
            try { ch.close(); } catch (IOException ignored) { /* closing anyway */ }
        }, handshakeTimeoutMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
        try {
            Supplier<SSLEngine> tls = creds == null ? null
                    : () -> creds.clientEngine(uri.tls().hostname(), uri.socket() == null ? uri.port() : -1);
            Handshake h = handshake(ch, uri.export(), tls);
            return new NbdConnection(h.channel(), h.negotiated(), true);
        } catch (IOException | RuntimeException e) {
            ch.close();
            if (timedOut.get()) throw new ConnectionLost("server " + uri + " did not complete the handshake within " + handshakeTimeoutMillis + " ms", e);
            if (e instanceof java.io.EOFException) throw new ConnectionLost("server " + uri + " closed the connection during the handshake", e);
            if (e instanceof SSLException ssl) {
                // Not retried on reconnect: a certificate problem does not fix itself.
                throw new dev.vmm.block.BlockException("TLS handshake with " + uri + " failed: " + TlsErrors.oneLine(ssl), ssl);
            }
            if (e instanceof IOException io) throw lost("connection to " + uri + " failed during the handshake", io);
            throw e;
        } finally {
            watchdog.cancel(false);
        }
    }

    /** For tests and fuzzing: a connection over an already negotiated channel, replies read by the caller. */
    static NbdConnection overChannel(ByteChannel ch, Negotiated n) { return new NbdConnection(ch, n, false); }

    public Negotiated negotiated() { return negotiated; }

    // ---- handshake ----

    static Negotiated handshake(ByteChannel ch, String export) throws IOException {
        return handshake(ch, export, null).negotiated();
    }

    /** The handshake's outcome: the export, and the channel the connection goes on with (TLS once started). */
    record Handshake(ByteChannel channel, Negotiated negotiated) {}

    /**
     * The fixed-newstyle handshake. With {@code tls}, NBD_OPT_STARTTLS is the first option (as the
     * spec advises a client that wants TLS, so no option travels in clear) and a refusal ends the
     * connection: no falling back to plain text.
     */
    static Handshake handshake(ByteChannel ch, String export, Supplier<SSLEngine> tls) throws IOException {
        ByteBuffer greeting = NbdIo.read(ch, 18);
        long magic = greeting.getLong();
        if (magic != NBDMAGIC) throw new NbdProtocolException("not an NBD server (greeting magic 0x" + Long.toHexString(magic) + ")");
        long second = greeting.getLong();
        if (second != IHAVEOPT) {
            throw new NbdProtocolException("server uses the oldstyle handshake (magic 0x" + Long.toHexString(second) + "), which is not supported");
        }
        int hflags = Short.toUnsignedInt(greeting.getShort());
        if ((hflags & FLAG_FIXED_NEWSTYLE) == 0) throw new NbdProtocolException("server does not support the fixed newstyle handshake");
        boolean noZeroes = (hflags & FLAG_NO_ZEROES) != 0;
        NbdIo.writeFully(ch, ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0)).flip());

        if (tls != null) {
            NbdOptionReply t = option(ch, new NbdOption(OPT_STARTTLS, new byte[0]));
            if (t.isError()) {
                String msg = t.errorMessage();
                throw new dev.vmm.block.BlockException("server refused TLS (NBD_OPT_STARTTLS): " + optionReplyName(t.type()) + (msg.isEmpty() ? "" : " (" + msg + ")"));
            }
            if (t.type() != REP_ACK || t.data().length != 0) throw new NbdProtocolException("unexpected reply " + optionReplyName(t.type()) + " to NBD_OPT_STARTTLS");
            ch = TlsChannel.handshake(ch, ch, tls.get());
        }

        boolean structured = false;
        NbdOptionReply r = option(ch, new NbdOption(OPT_STRUCTURED_REPLY, new byte[0]));
        if (r.type() == REP_ERR_TLS_REQD) {
            throw new dev.vmm.block.BlockException("the server requires TLS: use nbds:// with tls-creds=DIR (a directory with ca-cert.pem)");
        }
        if (r.type() == REP_ACK) {
            if (r.data().length != 0) throw new NbdProtocolException("NBD_REP_ACK with data");
            structured = true;
        } else if (!r.isError()) {
            throw new NbdProtocolException("unexpected reply " + optionReplyName(r.type()) + " to NBD_OPT_STRUCTURED_REPLY");
        }
        int baseAllocation = -1;
        if (structured) {
            byte[] q = new NbdOption.MetaContextRequest(export, List.of(BASE_ALLOCATION)).encode();
            NbdIo.writeFully(ch, new NbdOption(OPT_SET_META_CONTEXT, q).encode());
            while (true) {
                NbdOptionReply m = NbdOptionReply.read(ch, OPT_SET_META_CONTEXT);
                if (m.type() == REP_ACK) break;
                if (m.isError()) break; // no block status: everything reads as data
                if (m.type() != REP_META_CONTEXT || m.data().length < 4) throw new NbdProtocolException("bad reply to NBD_OPT_SET_META_CONTEXT");
                ByteBuffer b = ByteBuffer.wrap(m.data());
                int id = b.getInt();
                String name = NbdIo.string(m.data(), 4, m.data().length - 4, "meta context name");
                if (!name.equals(BASE_ALLOCATION)) throw new NbdProtocolException("server selected meta context '" + NbdIo.printable(name) + "' it was not asked for");
                baseAllocation = id;
            }
        }

        // NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME on servers that do not know it.
        byte[] go = new NbdOption.ExportRequest(export, List.of(INFO_BLOCK_SIZE)).encode();
        NbdIo.writeFully(ch, new NbdOption(OPT_GO, go).encode());
        long size = -1;
        int flags = 0, minBlock = 1, maxPayload = MAX_PAYLOAD;
        while (true) {
            NbdOptionReply g = NbdOptionReply.read(ch, OPT_GO);
            if (g.type() == REP_ACK) break;
            if (g.type() == REP_ERR_UNSUP) {
                NbdIo.writeFully(ch, new NbdOption(OPT_EXPORT_NAME, NbdIo.utf8(export)).encode());
                ByteBuffer b = NbdIo.read(ch, noZeroes ? 10 : 134);
                size = b.getLong();
                flags = Short.toUnsignedInt(b.getShort());
                break;
            }
            if (g.isError()) {
                String msg = g.errorMessage();
                throw new dev.vmm.block.BlockException("server refused export '" + NbdIo.printable(export) + "': "
                        + optionReplyName(g.type()) + (msg.isEmpty() ? "" : " (" + msg + ")"));
            }
            if (g.type() != REP_INFO) throw new NbdProtocolException("unexpected reply " + optionReplyName(g.type()) + " to NBD_OPT_GO");
            ByteBuffer b = ByteBuffer.wrap(g.data());
            if (b.remaining() < 2) throw new NbdProtocolException("NBD_REP_INFO without a type");
            int info = Short.toUnsignedInt(b.getShort());
            if (info == INFO_EXPORT) {
                if (b.remaining() != 10) throw new NbdProtocolException("NBD_INFO_EXPORT of " + g.data().length + " bytes (12 expected)");
                size = b.getLong();
                flags = Short.toUnsignedInt(b.getShort());
            } else if (info == INFO_BLOCK_SIZE) {
                if (b.remaining() != 12) throw new NbdProtocolException("NBD_INFO_BLOCK_SIZE of " + g.data().length + " bytes (14 expected)");
                int min = b.getInt(), pref = b.getInt(), max = b.getInt();
                if (min < 1 || min > 65536 || Integer.bitCount(min) != 1 || pref < min || Integer.bitCount(pref) != 1
                        || Integer.toUnsignedLong(max) < Math.min(pref, 1 << 20)) {
                    throw new NbdProtocolException("impossible block sizes min " + Integer.toUnsignedString(min) + " preferred "
                            + Integer.toUnsignedString(pref) + " max " + Integer.toUnsignedString(max));
                }
                minBlock = min;
                maxPayload = (int) Math.min(Integer.toUnsignedLong(max), MAX_PAYLOAD);
            }
            // Other information (name, description) is optional and not needed.
        }
        if (size < 0) throw new NbdProtocolException("server sent no export size (size " + Long.toUnsignedString(size) + ")");
        if ((flags & FLAG_HAS_FLAGS) == 0) flags = FLAG_HAS_FLAGS; // flags without HAS_FLAGS mean nothing
        return new Handshake(ch, new Negotiated(size, flags, structured, baseAllocation, minBlock, maxPayload));
    }

    private static NbdOptionReply option(ByteChannel ch, NbdOption o) throws IOException {
        NbdIo.writeFully(ch, o.encode());
        return NbdOptionReply.read(ch, o.option());
    }

    // ---- transmission ----

    /**
     * Sends a request (with {@code payload} for a WRITE) and returns its pending state, completed by
     * the reader when the reply is done. Throws {@link ConnectionLost} if the connection is gone.
     */
    public Pending submit(int type, int flags, long offset, long length, ByteBuffer payload) throws IOException {
        long cookie = cookies.getAndIncrement();
        NbdRequest req = new NbdRequest(flags, type, cookie, offset, length);
        Pending p = new Pending(req);
        pending.put(cookie, p);
        sendLock.lock();
        try {
            if (failure != null) throw failure;
            if (payload == null) NbdIo.writeFully(channel, req.encode());
            else NbdIo.writeFully(channel, req.encode(), payload);
        } catch (IOException e) {
            pending.remove(cookie);
            IOException f = lost("sending " + commandName(type) + " failed", e);
            fail(f);
            throw f;
        } finally {
            sendLock.unlock();
        }
        return p;
    }

    /** Sends NBD_CMD_DISC (no reply) and closes. */
    @Override
    public void close() {
        sendLock.lock();
        try {
            if (failure == null) NbdIo.writeFully(channel, new NbdRequest(0, CMD_DISC, 0, 0, 0).encode());
        } catch (IOException ignored) {
            // already gone
        } finally {
            sendLock.unlock();
        }
        fail(new ConnectionLost("connection closed", null));
        try { channel.close(); } catch (IOException ignored) { /* nothing left */ }
    }

    public boolean alive() { return failure == null; }

    private void readLoop() {
        try {
            while (true) readReply();
        } catch (NbdProtocolException e) {
            fail(new IOException(new NbdProtocolException("NBD server broke the protocol: " + e.getMessage())));
        } catch (IOException e) {
            fail(lost("connection to the NBD server lost", e));
        } catch (RuntimeException e) {
            fail(new IOException(new NbdProtocolException("NBD reply could not be handled: " + e)));
        } finally {
            try { channel.close(); } catch (IOException ignored) { /* closing anyway */ }
        }
    }

    private static ConnectionLost lost(String what, IOException e) {
        if (e instanceof ConnectionLost c) return c;
        return new ConnectionLost(what + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
    }

    private void fail(IOException f) {
        sendLock.lock();
        try {
            if (failure == null) failure = f;
        } finally {
            sendLock.unlock();
        }
        for (Pending p : pending.values()) p.done.completeExceptionally(failure);
        pending.clear();
    }

    /** Reads and applies one reply message (a simple reply or one structured chunk). */
    void readReply() throws IOException {
        NbdReplyHeader h = NbdReplyHeader.read(channel, negotiated.structured());
        Pending p = pending.get(h.cookie());
        if (p == null) throw new NbdProtocolException("reply for cookie " + Long.toUnsignedString(h.cookie()) + ", which no request has");
        NbdRequest req = p.request;
        if (h instanceof NbdReplyHeader.Simple s) {
            if (req.type() == CMD_READ && negotiated.structured()) {
                if (s.error() == 0) throw new NbdProtocolException("simple reply to a read after structured replies were negotiated");
            }
            if (s.error() != 0) {
                p.errno = s.error();
                p.message = null;
            } else if (req.type() == CMD_READ) {
                NbdIo.readFully(channel, ByteBuffer.wrap(p.data));
                p.covered.add(0, req.length());
            } else if (req.type() == CMD_BLOCK_STATUS) {
                throw new NbdProtocolException("simple success reply to a block status request");
            }
            complete(p);
            return;
        }
        NbdReplyHeader.Chunk c = (NbdReplyHeader.Chunk) h;
        long end = req.offset() + req.length();
        switch (c.type()) {
            case REPLY_TYPE_NONE -> {
                if (c.length() != 0) throw new NbdProtocolException("NBD_REPLY_TYPE_NONE with " + c.length() + " bytes");
                if (!c.done()) throw new NbdProtocolException("NBD_REPLY_TYPE_NONE without the done flag");
            }
            case REPLY_TYPE_OFFSET_DATA -> {
                if (req.type() != CMD_READ) throw new NbdProtocolException("data chunk in reply to " + commandName(req.type()));
                if (c.length() <= 8) throw new NbdProtocolException("data chunk of " + c.length() + " bytes");
                long n = c.length() - 8;
                long off = NbdIo.read(channel, 8).getLong();
                if (off < req.offset() || off >= end || n > end - off) {
                    throw new NbdProtocolException("data chunk [" + Long.toUnsignedString(off) + ", +" + n + ") outside the read [" + req.offset() + ", +" + req.length() + ")");
                }
                cover(p, off, n, "data");
                NbdIo.readFully(channel, ByteBuffer.wrap(p.data, (int) (off - req.offset()), (int) n));
            }
            case REPLY_TYPE_OFFSET_HOLE -> {
                if (req.type() != CMD_READ) throw new NbdProtocolException("hole chunk in reply to " + commandName(req.type()));
                if (c.length() != 12) throw new NbdProtocolException("hole chunk of " + c.length() + " bytes (12 expected)");
                ByteBuffer b = NbdIo.read(channel, 12);
                long off = b.getLong();
                long n = Integer.toUnsignedLong(b.getInt());
                if (n == 0 || off < req.offset() || off >= end || n > end - off) {
                    throw new NbdProtocolException("hole chunk [" + Long.toUnsignedString(off) + ", +" + n + ") outside the read [" + req.offset() + ", +" + req.length() + ")");
                }
                // Nothing to store: the buffer starts zeroed and no chunk may overlap another.
                cover(p, off, n, "hole");
            }
            case REPLY_TYPE_BLOCK_STATUS -> {
                if (req.type() != CMD_BLOCK_STATUS) throw new NbdProtocolException("block status chunk in reply to " + commandName(req.type()));
                if (c.length() < 12 || (c.length() - 4) % 8 != 0 || c.length() > MAX_METADATA_REPLY) {
                    throw new NbdProtocolException("block status chunk of " + c.length() + " bytes");
                }
                ByteBuffer b = NbdIo.read(channel, (int) c.length());
                int id = b.getInt();
                if (id != negotiated.baseAllocationId()) throw new NbdProtocolException("block status for meta context " + id + ", which was not selected");
                if (!p.extents.isEmpty()) throw new NbdProtocolException("two block status chunks for one context");
                long total = 0;
                while (b.hasRemaining()) {
                    long len = Integer.toUnsignedLong(b.getInt());
                    int flags = b.getInt();
                    if (len == 0) throw new NbdProtocolException("block status extent of length 0");
                    p.extents.add(new long[] {len, flags});
                    total += len;
                }
                if (total > req.length() && p.extents.size() > 1 && total - p.extents.getLast()[0] >= req.length()) {
                    throw new NbdProtocolException("block status extents run past the request");
                }
            }
            default -> {
                if (!c.isError()) throw new NbdProtocolException("unknown reply type " + c.type());
                if (c.length() < 6 || c.length() > MAX_METADATA_REPLY) throw new NbdProtocolException("error chunk of " + c.length() + " bytes");
                ByteBuffer b = NbdIo.read(channel, (int) c.length());
                int errno = b.getInt();
                int mlen = Short.toUnsignedInt(b.getShort());
                if (errno == 0) throw new NbdProtocolException("error chunk with error 0");
                if (c.type() == REPLY_TYPE_ERROR || c.type() == REPLY_TYPE_ERROR_OFFSET) {
                    long expect = 6L + mlen + (c.type() == REPLY_TYPE_ERROR_OFFSET ? 8 : 0);
                    if (c.length() != expect) throw new NbdProtocolException("error chunk of " + c.length() + " bytes with a " + mlen + "-byte message");
                    if (c.type() == REPLY_TYPE_ERROR_OFFSET) {
                        long off = b.getLong(6 + mlen);
                        if (off < req.offset() || off >= end) throw new NbdProtocolException("error offset " + Long.toUnsignedString(off) + " outside the request");
                    }
                }
                // An unknown error type still starts with errno and message (the spec's rule for clients).
                if (mlen > c.length() - 6) mlen = (int) (c.length() - 6);
                if (p.errno == 0) {
                    p.errno = errno;
                    String m;
                    try {
                        m = NbdIo.string(b.array(), 6, mlen, "error message");
                    } catch (NbdProtocolException e) {
                        m = "";
                    }
                    p.message = NbdIo.printable(m);
                }
            }
        }
        if (c.done()) complete(p);
    }

    /** Records a content chunk's range; proto.md: it MUST NOT overlap an earlier content chunk. */
    private static void cover(Pending p, long off, long n, String what) throws NbdProtocolException {
        long from = off - p.request.offset();
        if (!p.covered.add(from, from + n)) {
            throw new NbdProtocolException(what + " chunk [" + off + ", +" + n + ") overlaps an earlier chunk of the read");
        }
    }

    private void complete(Pending p) throws NbdProtocolException {
        // Checked while still pending: a violation fails it together with every other request.
        if (p.errno == 0 && p.request.type() == CMD_READ && p.covered.total() != p.request.length()) {
            throw new NbdProtocolException("read of " + p.request.length() + " bytes answered with " + p.covered.total());
        }
        if (p.errno == 0 && p.request.type() == CMD_BLOCK_STATUS && p.extents.isEmpty()) {
            throw new NbdProtocolException("block status reply without extents");
        }
        pending.remove(p.request.cookie());
        p.done.complete(p);
    }

    /** For the fuzz target: registers a request as sent without writing it. */
    Pending expect(NbdRequest req) {
        Pending p = new Pending(req);
        pending.put(req.cookie(), p);
        return p;
    }
}
