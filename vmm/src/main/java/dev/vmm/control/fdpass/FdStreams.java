package dev.vmm.control.fdpass;

import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One accepted QMP connection on a raw socket fd: an InputStream that reads with recvmsg and keeps
 * the file descriptors that arrive with the bytes (until a command takes them, {@link #takeFd}),
 * an OutputStream that writes, and close (the socket and every fd nobody took).
 */
public final class FdStreams implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FdStreams.class.getName());
    private static final int BUFFER = 8192;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buf = arena.allocate(BUFFER);
    private final List<Integer> received = new ArrayList<>();
    private final InputStream in = new In();
    private final OutputStream out = new Out();
    private boolean closed;

    public FdStreams(int fd) {
        this.fd = fd;
    }

    public InputStream in() { return in; }

    public OutputStream out() { return out; }

    /** The first fd of the latest message that carried fds, if no command took it yet (now the caller's), or -1. */
    public synchronized int takeFd() {
        return received.isEmpty() ? -1 : received.removeFirst();
    }

    /** Wakes a reader blocked on this connection (server shutdown). */
    public void shutdown() {
        UnixSockets.shutdown(fd);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        UnixSockets.closeAll(received);
        Libc.close(fd);
        arena.close();
    }

    private final class In extends InputStream {
        private int pos, end;

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) <= 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            if (pos == end) {
                List<Integer> fds = new ArrayList<>();
                boolean[] truncated = new boolean[1];
                long n;
                synchronized (FdStreams.this) {
                    if (closed) return -1;
                }
                n = UnixSockets.receive(fd, buf, fds, truncated);
                if (truncated[0]) LOG.log(System.Logger.Level.WARNING, "QMP client passed more than {0} fds in one message: the rest were dropped", UnixSockets.MAX_FDS);
                synchronized (FdStreams.this) {
                    if (closed) {
                        UnixSockets.closeAll(fds);
                        return -1;
                    }
                    // As QEMU's socket chardev: fds arriving with a message replace those of an earlier one
                    // that no command took (closed), so a getfd gets the fd sent with it, not a stale one.
                    if (!fds.isEmpty()) {
                        UnixSockets.closeAll(received);
                        received.addAll(fds);
                    }
                }
                if (n == 0) return -1;
                pos = 0;
                end = (int) n;
            }
            int k = Math.min(len, end - pos);
            MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, pos, b, off, k);
            pos += k;
            return k;
        }
    }

    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            synchronized (FdStreams.this) {
                // After close the number may belong to another file already: never write to it.
                if (closed) throw new IOException("QMP connection closed");
                UnixSockets.write(fd, java.util.Arrays.copyOfRange(b, off, off + len));
            }
        }
    }
}
