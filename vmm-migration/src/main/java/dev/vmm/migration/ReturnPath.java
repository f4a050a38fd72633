package dev.vmm.migration;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The destination → source direction ({@link MigrationProtocol}): a thread named
 * {@code migration-return-path} reads the destination's ACK of each iteration, then READY or a NAK
 * (or notices the connection end). The migration thread waits on it with {@link #awaitAck} and
 * {@link #awaitReady}, which also give up as soon as {@code abort} does. A NAK, an unknown reply or
 * the connection's end become {@link #peerError()}, and {@code onPeerError} runs (the source closes
 * the channel there, to unblock a write the destination will never read).
 */
final class ReturnPath {
    private final InputStream in;
    private final BooleanSupplier cancelled;
    private final Runnable onPeerError;
    private final CountDownLatch ready = new CountDownLatch(1);
    private final Object acks = new Object();
    private int ackedIteration = -1; // guarded by acks
    private volatile String peerError;
    private Thread thread;

    /** @param cancelled whether a read error is just the cancel closing the channel (then not a peer error) */
    ReturnPath(InputStream in, BooleanSupplier cancelled, Runnable onPeerError) {
        this.in = in;
        this.cancelled = cancelled;
        this.onPeerError = onPeerError;
    }

    void start() {
        thread = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.MIGRATION, "migration-return-path", this::read);
    }

    /** The destination's failure as a message for {@code error-desc}, or null. */
    String peerError() { return peerError; }

    /** Whether the destination reported READY (from then on it owns the VM). */
    boolean readyReceived() { return ready.getCount() == 0; }

    /** Waits until the destination acknowledged {@code iteration}. */
    void awaitAck(int iteration, AbortCheck abort) throws Exception {
        synchronized (acks) {
            while (ackedIteration < iteration) {
                abort.check();
                acks.wait(20);
            }
        }
    }

    /** Waits for READY. */
    void awaitReady(AbortCheck abort) throws Exception {
        while (!ready.await(20, TimeUnit.MILLISECONDS)) abort.check();
        abort.check();
    }

    /** Waits up to {@code millis} for the reader to end (e.g. to let a NAK arrive before closing). */
    void join(long millis) {
        Thread t = thread;
        if (t == null) return;
        try {
            t.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void read() {
        DataInputStream din = new DataInputStream(in);
        try {
            while (true) {
                int b = din.readUnsignedByte();
                if (b == MigrationProtocol.ACK) {
                    int it = din.readInt();
                    synchronized (acks) {
                        ackedIteration = Math.max(ackedIteration, it);
                        acks.notifyAll();
                    }
                    continue;
                }
                if (b == MigrationProtocol.READY) {
                    ready.countDown();
                } else if (b == MigrationProtocol.NAK) {
                    peerError = "destination failed: " + din.readUTF();
                } else {
                    peerError = String.format("destination sent an unknown reply 0x%02x", b);
                }
                break;
            }
        } catch (EOFException e) {
            peerError = "destination closed the connection";
        } catch (IOException e) {
            if (!cancelled.getAsBoolean()) peerError = "connection to the destination failed: " + e.getMessage();
        }
        if (peerError != null) onPeerError.run();
    }
}
