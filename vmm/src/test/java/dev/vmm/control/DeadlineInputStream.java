package dev.vmm.control;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An input stream whose every read waits at most {@link #WAIT_MS} for data, then fails: a QMP
 * peer (ours or QEMU) that stops answering fails the test in seconds naming the wait, instead of
 * blocking a {@code readLine} forever (a process's stdout and a socket channel's stream have no
 * read timeout of their own). A daemon thread pumps the source into a queue; end of stream and
 * read errors travel through it too. Under PIT this turns a mutant that silences the server
 * into a KILLED one rather than a timeout that costs a new minion JVM (docs/testing.md).
 */
final class DeadlineInputStream extends InputStream {
    static final long WAIT_MS = 5000;
    private static final byte[] EOF = new byte[0];

    private final LinkedBlockingQueue<Object> chunks = new LinkedBlockingQueue<>();
    private final String what;
    private byte[] current = new byte[0];
    private int pos;
    private boolean ended;

    /** Wraps {@code source}, read from now on by a daemon thread; {@code what} names it in the failure. */
    DeadlineInputStream(InputStream source, String what) {
        this.what = what;
        Thread pump = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = source.read(buf)) > 0) chunks.add(java.util.Arrays.copyOf(buf, n));
                chunks.add(EOF);
            } catch (IOException e) {
                chunks.add(e);
            }
        }, "deadline-read " + what);
        pump.setDaemon(true);
        pump.start();
    }

    private boolean fill() throws IOException {
        while (pos == current.length) {
            if (ended) return false;
            Object next;
            try {
                next = chunks.poll(WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted waiting for " + what);
            }
            if (next == null) throw new InterruptedIOException("no data from " + what + " within " + WAIT_MS + " ms");
            if (next instanceof IOException e) throw e;
            current = (byte[]) next;
            pos = 0;
            if (current == EOF) ended = true;
        }
        return true;
    }

    @Override
    public int read() throws IOException {
        return fill() ? current[pos++] & 0xFF : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) return 0;
        if (!fill()) return -1;
        int n = Math.min(len, current.length - pos);
        System.arraycopy(current, pos, b, off, n);
        pos += n;
        return n;
    }

    @Override
    public int available() {
        return current.length - pos;
    }
}
