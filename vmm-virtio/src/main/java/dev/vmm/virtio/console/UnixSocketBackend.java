package dev.vmm.virtio.console;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A port served on a UNIX stream socket: the backend listens at a path and talks to one client at
 * a time (further clients wait in the listen backlog). A client connecting is the host side
 * opening the port (PORT_OPEN 1 to the guest), its disconnecting closes it.
 *
 * <p>Threads: one daemon thread accepts a client and reads from it (input → port, blocking on the
 * port's back-pressure); one daemon writer thread drains guest output to the client. {@link #write}
 * never blocks: it copies into a bounded buffer ({@link #OUTPUT_LIMIT}) and returns short when it is
 * full, and the writer calls {@link PortHandle#outputReady()} once it made room. Output while no
 * client is connected is dropped, as on a real unplugged serial line.
 */
public final class UnixSocketBackend implements PortBackend {
    private static final Logger LOG = Logger.getLogger(UnixSocketBackend.class.getName());
    public static final int OUTPUT_LIMIT = 64 * 1024;

    private final Path path;
    private final ServerSocketChannel server;
    private final ArrayDeque<ByteBuffer> outQueue = new ArrayDeque<>();   // guarded by outQueue
    private int outBytes;                                                 // guarded by outQueue
    private boolean wantReady;                                            // guarded by outQueue
    private volatile SocketChannel client;
    private volatile boolean closed;
    private PortHandle port;
    private Thread acceptor;
    private Thread writer;

    /**
     * Binds and listens at {@code path} now (so a bad path fails at start-up). A stale socket file
     * left by an earlier run is replaced; any other existing file is an error.
     */
    public UnixSocketBackend(Path path) throws IOException {
        this.path = path;
        if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Object mode = Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if (((Integer) mode & 0170000) != 0140000) throw new IOException(path + " exists and is not a socket");
            Files.delete(path);
        }
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path), 1);
    }

    public Path path() { return path; }

    /** Whether a client is connected right now. */
    public boolean connected() { return client != null; }

    @Override
    public void attach(PortHandle port) {
        this.port = port;
        acceptor = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONSOLE, "vport" + port.id() + "-socket", this::acceptLoop);
        writer = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONSOLE, "vport" + port.id() + "-writer", this::writeLoop);
    }

    private void acceptLoop() {
        ByteBuffer buf = ByteBuffer.allocate(4096);
        while (!closed) {
            SocketChannel c;
            try {
                c = server.accept();
            } catch (IOException e) {
                if (!closed) LOG.log(Level.WARNING, "accept on " + path + " failed", e);
                return;
            }
            client = c;
            port.setHostConnected(true);
            try {
                while (!closed) {
                    buf.clear();
                    int n = c.read(buf);
                    if (n < 0) break;
                    if (n > 0 && !port.receive(buf.array(), 0, n)) return;
                }
            } catch (InterruptedException e) {
                return;
            } catch (IOException e) {
                if (!closed) LOG.log(Level.FINE, "client on " + path + " went away", e);
            } finally {
                client = null;
                closeQuietly(c);
                synchronized (outQueue) {
                    outQueue.clear();
                    outBytes = 0;
                    outQueue.notifyAll();
                }
                if (!closed) port.setHostConnected(false);
            }
        }
    }

    @Override
    public int write(ByteBuffer data) {
        int total = data.remaining();
        synchronized (outQueue) {
            if (client == null || closed) {                   // nobody listening: drop
                data.position(data.limit());
                return total;
            }
            int n = Math.min(total, OUTPUT_LIMIT - outBytes);
            if (n <= 0) {
                wantReady = true;
                return 0;
            }
            ByteBuffer copy = ByteBuffer.allocate(n);
            copy.put(data.slice(data.position(), n)).flip();
            data.position(data.position() + n);
            outQueue.add(copy);
            outBytes += n;
            outQueue.notifyAll();
            return n;
        }
    }

    private void writeLoop() {
        while (!closed) {
            ByteBuffer b;
            synchronized (outQueue) {
                while (!closed && outQueue.isEmpty()) {
                    try {
                        outQueue.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) return;
                b = outQueue.peek();
            }
            SocketChannel c = client;
            int len = b.remaining();
            try {
                while (c != null && b.hasRemaining()) c.write(b);
            } catch (IOException e) {
                LOG.log(Level.FINE, "writing to client on " + path + " failed", e);
            }
            boolean notify;
            synchronized (outQueue) {
                if (outQueue.peek() == b) {                   // not cleared by a disconnect meanwhile
                    outQueue.poll();
                    outBytes -= len;
                }
                notify = wantReady;
                wantReady = false;
            }
            if (notify) port.outputReady();
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        SocketChannel c = client;
        if (c != null) closeQuietly(c);
        synchronized (outQueue) {
            outQueue.notifyAll();
        }
        if (acceptor != null) acceptor.interrupt();
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.log(Level.FINE, "removing " + path, e);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // nothing useful to do
        }
    }
}
