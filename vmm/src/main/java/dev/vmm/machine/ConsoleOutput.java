package dev.vmm.machine;

import dev.vmm.chipset.legacy.ByteSink;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/**
 * The serial port's output: buffered, flushed at each newline, when the buffer fills, and by a
 * timer so that a prompt without a newline still appears. Guest output never blocks on a slow
 * reader for longer than a write to the underlying stream.
 */
public final class ConsoleOutput implements ByteSink, AutoCloseable {
    private final OutputStream out;
    private final byte[] buf = new byte[8192];
    private int len;
    private final Thread flusher;
    private volatile boolean closed;

    private boolean firstByte;

    public ConsoleOutput(OutputStream out) {
        this.out = out;
        this.flusher = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONSOLE, "console-flush", this::flushPeriodically);
    }

    /** This sink as an OutputStream (for other consoles that share it, e.g. virtio-console's hvc0). */
    public OutputStream asStream() {
        return new OutputStream() {
            @Override
            public void write(int b) {
                ConsoleOutput.this.write((byte) b);
            }
        };
    }

    @Override
    public synchronized void write(byte b) {
        if (!firstByte) {
            firstByte = true;
            dev.vmm.startup.StartupTrace.finish("first serial byte from the guest", System.err); // --trace-startup
        }
        buf[len++] = b;
        if (b == '\n' || len == buf.length) flush();
    }

    public synchronized void flush() {
        if (len == 0) return;
        try {
            out.write(buf, 0, len);
            out.flush();
        } catch (IOException e) {
            // A closed stdout must not take the guest down: drop the output.
        }
        len = 0;
    }

    private void flushPeriodically() {
        while (!closed) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
            flush();
        }
    }

    @Override
    public void close() {
        closed = true;
        flusher.interrupt();
        flush();
        if (out != System.out) {
            try {
                out.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
