package dev.vmm.block.nbd;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Listens on a TCP or UNIX socket and serves one {@link NbdExport} to up to {@code shared} clients at
 * once (further connections wait in the listen backlog, as with qemu-nbd --shared). Without
 * {@code persistent} it stops after its last client has gone.
 *
 * <p>Connections and requests run on virtual threads: the work is blocking socket and file I/O, a
 * connection can have up to 64 requests in flight and there may be many connections, so one platform
 * thread each would be thousands of idle stacks; virtual threads give blocking code that scales with
 * no hand-written event loop. (The image's I/O pins the carrier during the pread/pwrite downcall,
 * which is short with the data in the page cache and bounded by the carrier pool otherwise.)
 */
public final class NbdServer implements AutoCloseable {
    /**
     * How long a client may take over the handshake (TLS included) before it is dropped: a client
     * that connects and stalls would otherwise hold one of the --shared slots for ever. 10 s as
     * qemu-nbd's --handshake-limit default (QEMU 9); tests shorten it.
     */
    static volatile long handshakeLimitMillis = 10_000;
    private static final java.util.concurrent.ScheduledExecutorService DEADLINES =
            Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("nbd-handshake-limit").unstarted(r));

    private final ServerSocketChannel listener;
    private final NbdExport export;
    private final Semaphore slots;
    private final boolean persistent;
    private final Consumer<String> log;
    private final dev.vmm.block.nbd.tls.X509Credentials tls;
    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicInteger active = new AtomicInteger();
    private final SocketAddress address;
    private volatile boolean closed;

    public NbdServer(SocketAddress bind, NbdExport export, int shared, boolean persistent, Consumer<String> log) throws IOException {
        this(bind, export, null, shared, persistent, log);
    }

    /** @param tls server credentials: every client must then start TLS (null: plain NBD) */
    public NbdServer(SocketAddress bind, NbdExport export, dev.vmm.block.nbd.tls.X509Credentials tls, int shared, boolean persistent,
                     Consumer<String> log) throws IOException {
        this.tls = tls;
        if (shared < 1) throw new IllegalArgumentException("--shared must be at least 1");
        this.export = export;
        this.slots = new Semaphore(shared);
        this.persistent = persistent;
        this.log = log;
        if (bind instanceof UnixDomainSocketAddress u) {
            Files.deleteIfExists(u.getPath()); // a stale socket file of an earlier run would make bind fail
            listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        } else {
            listener = ServerSocketChannel.open();
            listener.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
        }
        listener.bind(bind, 64);
        address = listener.getLocalAddress();
    }

    /** The bound address (with the real port when port 0 was asked for). */
    public SocketAddress address() { return address; }

    /** Accepts and serves clients until {@link #close} or, when not persistent, the last client leaves. */
    public void serve() throws IOException {
        try {
            while (!closed) {
                slots.acquireUninterruptibly();
                SocketChannel c;
                try {
                    c = listener.accept();
                } catch (IOException e) {
                    slots.release();
                    if (closed) return;
                    throw e;
                }
                if (c.getRemoteAddress() instanceof java.net.InetSocketAddress) {
                    c.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
                }
                active.incrementAndGet();
                Thread.ofVirtual().name("nbd-client").start(() -> {
                    NbdServerSession session = new NbdServerSession(c, c, export, tls, requests, log);
                    java.util.concurrent.ScheduledFuture<?> deadline = DEADLINES.schedule(() -> {
                        if (session.negotiated()) return;
                        log.accept("client did not complete the handshake within " + handshakeLimitMillis + " ms: disconnected");
                        try { c.close(); } catch (IOException ignored) { /* closing anyway */ }
                    }, handshakeLimitMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
                    try (c) {
                        session.run();
                    } catch (IOException ignored) {
                        // close failed: nothing left to do for this connection
                    } finally {
                        deadline.cancel(false);
                        slots.release();
                        if (active.decrementAndGet() == 0 && !persistent) close();
                    }
                });
            }
        } finally {
            close();
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            listener.close();
        } catch (IOException ignored) {
            // already closed
        }
        if (address instanceof UnixDomainSocketAddress u) {
            try { Files.deleteIfExists(u.getPath()); } catch (IOException ignored) { /* best effort */ }
        }
        slots.release(Integer.MAX_VALUE / 2); // wake serve() if it waits for a slot
    }
}
