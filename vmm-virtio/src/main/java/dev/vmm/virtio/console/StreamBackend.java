package dev.vmm.virtio.console;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A port backed by a pair of streams, e.g. the VMM's stdin/stdout for the console. Guest output is
 * written through to {@code out} (and flushed) on the serving thread — acceptable for a terminal
 * or a pipe the VMM's user drains; use a socket or file port for anything that may stall. Input is
 * read by a daemon thread and handed to the port. The host side counts as connected from attach.
 */
public final class StreamBackend implements PortBackend {
    private static final Logger LOG = Logger.getLogger(StreamBackend.class.getName());

    private final InputStream in;
    private final OutputStream out;
    private final String threadName;
    private final byte[] copy = new byte[4096];
    private volatile boolean closed;
    private Thread reader;

    /** {@code in} may be null (output only); {@code out} may be null (output dropped). */
    public StreamBackend(InputStream in, OutputStream out, String threadName) {
        this.in = in;
        this.out = out;
        this.threadName = threadName;
    }

    /** The VMM's own stdin and stdout (raw file descriptors, no buffering in between). */
    public static StreamBackend stdio() {
        return new StreamBackend(new java.io.FileInputStream(FileDescriptor.in), new FileOutputStream(FileDescriptor.out), "console-stdin");
    }

    @Override
    public void attach(PortHandle port) {
        port.setHostConnected(true);
        if (in == null) return;
        reader = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONSOLE, threadName, () -> readLoop(port));
    }

    private void readLoop(PortHandle port) {
        byte[] buf = new byte[4096];
        try {
            int n;
            while (!closed && (n = in.read(buf)) >= 0) {
                if (n > 0 && !port.receive(buf, 0, n)) return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            if (!closed) LOG.log(Level.WARNING, "console input for " + port + " failed", e);
        }
    }

    @Override
    public int write(ByteBuffer data) {
        int total = data.remaining();
        if (out == null || closed) {
            data.position(data.limit());
            return total;
        }
        try {
            while (data.hasRemaining()) {
                int n = Math.min(copy.length, data.remaining());
                data.get(copy, 0, n);
                out.write(copy, 0, n);
            }
            out.flush();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "console output failed; dropping", e);
            data.position(data.limit());
        }
        return total;
    }

    @Override
    public void close() {
        closed = true;
        if (reader != null) reader.interrupt();
    }
}
