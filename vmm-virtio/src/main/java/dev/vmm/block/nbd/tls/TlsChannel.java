package dev.vmm.block.nbd.tls;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A blocking byte channel that runs TLS (a JDK {@link SSLEngine}) over another blocking channel: a
 * TCP or UNIX socket (the JDK's SSLSocket cannot sit on a UNIX socket, an engine can). Reads and
 * writes may happen at the same time on two threads (one reader, writers serialised by the caller
 * or by the write lock here), as the NBD server and client do: {@code SSLEngine} allows
 * {@code wrap} and {@code unwrap} to run concurrently.
 *
 * <p>Plaintext is unwrapped straight into the caller's buffer when it can hold a whole record (the
 * large read and write payloads), so big transfers are not copied twice; ciphertext goes out
 * several records per write.
 */
public final class TlsChannel implements ByteChannel {
    /** Records gathered into one socket write. */
    private static final int RECORDS_PER_WRITE = 4;

    private final ReadableByteChannel rawIn;
    private final WritableByteChannel rawOut;
    private final SSLEngine engine;
    private final ReentrantLock readLock = new ReentrantLock(), writeLock = new ReentrantLock();
    private ByteBuffer netIn;       // ciphertext received, not yet unwrapped (fill mode)
    private ByteBuffer appIn;       // plaintext unwrapped, not yet read (drain mode)
    private ByteBuffer netOut;      // ciphertext being written (fill mode)
    private boolean inboundClosed;
    private boolean handshakeDone;    // set once by the handshaking thread, before the channel is shared
    private volatile boolean open = true;

    private TlsChannel(ReadableByteChannel rawIn, WritableByteChannel rawOut, SSLEngine engine) {
        this.rawIn = rawIn;
        this.rawOut = rawOut;
        this.engine = engine;
        int packet = engine.getSession().getPacketBufferSize();
        this.netIn = ByteBuffer.allocateDirect(packet);
        this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize()).limit(0);
        this.netOut = ByteBuffer.allocateDirect(packet * RECORDS_PER_WRITE);
    }

    /**
     * Runs the TLS handshake over {@code rawIn}/{@code rawOut} and returns the secured channel. A
     * peer that is not speaking TLS, fails verification or goes away mid-handshake ends it with an
     * {@link SSLException} or {@link EOFException}.
     */
    public static TlsChannel handshake(ReadableByteChannel rawIn, WritableByteChannel rawOut, SSLEngine engine) throws IOException {
        TlsChannel t = new TlsChannel(rawIn, rawOut, engine);
        engine.beginHandshake();
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> t.wrapHandshake();
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    if (!t.unwrapOnce(null)) throw new EOFException("peer closed the connection during the TLS handshake");
                }
                case NEED_TASK -> t.runTasks();
                case FINISHED, NOT_HANDSHAKING -> {
                    t.handshakeDone = true;
                    return t;
                }
            }
        }
    }

    public SSLEngine engine() { return engine; }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        readLock.lock();
        try {
            while (true) {
                if (appIn.hasRemaining()) {
                    int n = Math.min(dst.remaining(), appIn.remaining());
                    int lim = appIn.limit();
                    appIn.limit(appIn.position() + n);
                    dst.put(appIn);
                    appIn.limit(lim);
                    return n;
                }
                if (inboundClosed) return -1;
                if (!dst.hasRemaining()) return 0;
                // A destination that can take a whole record gets the plaintext directly.
                ByteBuffer direct = dst.remaining() >= engine.getSession().getApplicationBufferSize() ? dst : null;
                int before = direct == null ? 0 : direct.position();
                if (!unwrapOnce(direct)) {
                    inboundClosed = true;
                    return -1;
                }
                if (direct != null && direct.position() > before) return direct.position() - before;
            }
        } finally {
            readLock.unlock();
        }
    }

    /**
     * Unwraps one record into {@code target} (or into {@link #appIn} when null), reading from the
     * socket as needed. Handshake messages after the handshake (TLS 1.3 session tickets, key
     * updates) are handled on the way. Returns false at the end of the stream.
     */
    private boolean unwrapOnce(ByteBuffer target) throws IOException {
        while (true) {
            ByteBuffer into = target != null ? target : appIn.clear();
            netIn.flip();
            SSLEngineResult r;
            try {
                r = engine.unwrap(netIn, into);
            } finally {
                netIn.compact();
                if (into == appIn) appIn.flip();
            }
            switch (r.getStatus()) {
                case OK -> {
                    if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
                    if (!handshakeDone) return true; // the handshake loop looks at the engine's state again
                    if (engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP && writeLock.tryLock()) {
                        // A post-handshake message to answer (a TLS 1.3 KeyUpdate). Not waiting for the
                        // lock: a writer blocked on a full socket would wait for us to read, and that
                        // writer's next wrap sends the answer anyway.
                        try {
                            wrapHandshake();
                        } finally {
                            writeLock.unlock();
                        }
                    }
                    if (r.bytesProduced() > 0) return true;
                    // a record without data (a session ticket): go on to the next one
                }
                case BUFFER_UNDERFLOW -> {
                    if (!netIn.hasRemaining()) netIn = grow(netIn, engine.getSession().getPacketBufferSize());
                    if (rawIn.read(netIn) < 0) {
                        if (netIn.position() > 0) throw new EOFException("connection closed in the middle of a TLS record");
                        return false;
                    }
                }
                case BUFFER_OVERFLOW -> {
                    if (target != null) target = null; // the caller's buffer after all too small: through appIn
                    else appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize() + appIn.capacity()).limit(0);
                }
                case CLOSED -> { return false; } // close_notify from the peer
            }
        }
    }

    private static ByteBuffer grow(ByteBuffer b, int atLeast) {
        ByteBuffer n = ByteBuffer.allocateDirect(Math.max(atLeast, b.capacity() * 2));
        b.flip();
        n.put(b);
        return n;
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) task.run();
    }

    /** Sends what the engine wants to send with no application data (handshake, alerts, close_notify). */
    private void wrapHandshake() throws IOException {
        writeLock.lock();
        try {
            netOut.clear();
            SSLEngineResult r = engine.wrap(ByteBuffer.allocate(0), netOut);
            if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) throw new SSLException("TLS handshake message larger than a packet");
            flushNetOut();
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
        } finally {
            writeLock.unlock();
        }
    }

    private void flushNetOut() throws IOException {
        netOut.flip();
        while (netOut.hasRemaining()) rawOut.write(netOut);
        netOut.clear();
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src});
    }

    /** Writes all of {@code srcs}, gathered into as few records and socket writes as fit. */
    public long write(ByteBuffer[] srcs) throws IOException {
        writeLock.lock();
        try {
            if (!open) throw new ClosedChannelException();
            long total = 0;
            int packet = engine.getSession().getPacketBufferSize();
            netOut.clear();
            while (remaining(srcs)) {
                SSLEngineResult r = engine.wrap(srcs, netOut);
                total += r.bytesConsumed();
                switch (r.getStatus()) {
                    case OK -> {
                        if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) runTasks();
                        if (netOut.remaining() < packet) flushNetOut();
                    }
                    case BUFFER_OVERFLOW -> {
                        if (netOut.position() > 0) flushNetOut();
                        else netOut = ByteBuffer.allocateDirect(packet * RECORDS_PER_WRITE);
                    }
                    case CLOSED -> throw new SSLException("TLS session closed");
                    case BUFFER_UNDERFLOW -> throw new IllegalStateException("wrap underflow");
                }
            }
            if (netOut.position() > 0) flushNetOut();
            return total;
        } finally {
            writeLock.unlock();
        }
    }

    private static boolean remaining(ByteBuffer[] bufs) {
        for (ByteBuffer b : bufs) if (b.hasRemaining()) return true;
        return false;
    }

    @Override public boolean isOpen() { return open; }

    /**
     * Sends close_notify (if no writer holds the channel: closing must not wait behind a blocked
     * write) and closes the underlying channels.
     */
    @Override
    public void close() throws IOException {
        if (!open) return;
        if (writeLock.tryLock()) {
            try {
                open = false;
                engine.closeOutbound();
                netOut.clear();
                engine.wrap(ByteBuffer.allocate(0), netOut);
                flushNetOut();
            } catch (IOException ignored) {
                // the peer is gone: nothing to tell it
            } finally {
                writeLock.unlock();
            }
        }
        open = false;
        try {
            rawIn.close();
        } finally {
            rawOut.close();
        }
    }
}
