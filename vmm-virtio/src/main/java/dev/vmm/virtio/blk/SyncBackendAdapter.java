package dev.vmm.virtio.blk;

import dev.vmm.block.BlockDevice;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.virtio.io.IoThread;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * Runs a synchronous {@link BlockDevice} (qcow2, vhdx, vpc... from {@code dev.vmm.block}) behind
 * the asynchronous {@link BlkBackend} interface: requests go to a small worker pool so the I/O
 * thread never blocks on the disk, and each result is handed back to the queue's I/O thread with
 * {@link IoThread#execute} (a JCTools MPSC queue plus an eventfd wake-up).
 */
public final class SyncBackendAdapter extends AbstractBlkBackend {

    private final BlockDevice disk;
    private final ExecutorService workers;
    private final boolean ownsWorkers;

    /** Wraps {@code disk} (closed by {@link #close()}) with its own pool of {@code workerThreads} daemon threads. */
    public SyncBackendAdapter(BlockDevice disk, int workerThreads, String serial) {
        this(disk, newPool(workerThreads), true, serial, false);
    }

    /**
     * Wraps {@code disk} using {@code workers} (not shut down by {@link #close()} unless
     * {@code ownsWorkers}); {@code writeThrough} if the disk makes writes durable on return.
     */
    public SyncBackendAdapter(BlockDevice disk, ExecutorService workers, boolean ownsWorkers, String serial, boolean writeThrough) {
        super(new DiskFacts(disk.size(), disk.readOnly(), writeThrough, serial));
        this.disk = disk;
        this.workers = workers;
        this.ownsWorkers = ownsWorkers;
    }

    private static ExecutorService newPool(int n) {
        return Executors.newFixedThreadPool(Math.max(1, n),
                dev.vmm.threads.VmmThreads.factory(dev.vmm.threads.ThreadKind.BLOCK_WORKER, "blk-worker-"));
    }

    @Override
    public BlkBackendQueue openQueue(IoThread thread, BlkCompletionSink sink) {
        return new Queue(thread, sink);
    }

    @Override
    public void close() {
        if (ownsWorkers) workers.shutdown();
        disk.close();
    }

    /** A unit of disk work that returns the result code. */
    private interface Op {
        int run();
    }

    /** {@link BlockDevice#read} or {@link BlockDevice#write}. */
    private interface Transfer {
        void run(long offset, MemorySegment buffer);
    }

    private final class Queue implements BlkBackendQueue {
        private final IoThread thread;
        private final BlkCompletionSink sink;
        /** Changed only on the I/O thread (completions come back through execute). */
        private int inFlight;

        Queue(IoThread thread, BlkCompletionSink sink) {
            this.thread = thread;
            this.sink = sink;
        }

        @Override
        public void read(long offset, MemorySegment iovecs, int count, long token) {
            transfer(offset, iovecs, count, token, disk::read);
        }

        @Override
        public void write(long offset, MemorySegment iovecs, int count, long token) {
            transfer(offset, iovecs, count, token, disk::write);
        }

        /** One read or write of the iovecs' buffers, back to back from {@code offset}; the result is the byte count. */
        private void transfer(long offset, MemorySegment iovecs, int count, long token,
                              Transfer io) {
            MemorySegment[] bufs = buffers(iovecs, count);
            run(token, () -> {
                long at = offset, total = 0;
                for (MemorySegment b : bufs) {
                    io.run(at, b);
                    at += b.byteSize();
                    total += b.byteSize();
                }
                return (int) total;
            });
        }

        @Override
        public void flush(long token) {
            run(token, () -> { disk.flush(); return 0; });
        }

        @Override
        public void discard(long offset, long length, long token) {
            run(token, () -> { disk.discard(offset, length); return 0; });
        }

        @Override
        public void writeZeroes(long offset, long length, boolean unmap, long token) {
            run(token, () -> { disk.writeZeroes(offset, length, unmap); return 0; });
        }

        private void run(long token, Op op) {
            inFlight++;
            try {
                workers.execute(() -> {
                    int res;
                    try {
                        res = op.run();
                    } catch (RuntimeException e) {
                        res = -Errno.EIO;
                    }
                    int r = res;
                    thread.execute(() -> {
                        inFlight--;
                        sink.complete(token, r);
                    });
                });
            } catch (RejectedExecutionException e) {
                inFlight--;
                sink.complete(token, -Errno.EIO);
            }
        }

        @Override
        public int inFlight() { return inFlight; }

        @Override
        public void close() { }

        /** The iovecs as segments, read now (the worker must not depend on the array later). */
        private static MemorySegment[] buffers(MemorySegment iovecs, int count) {
            MemorySegment[] bufs = new MemorySegment[count];
            for (int i = 0; i < count; i++) {
                long base = iovecs.get(ValueLayout.JAVA_LONG, 16L * i);
                long len = iovecs.get(ValueLayout.JAVA_LONG, 16L * i + 8);
                bufs[i] = MemorySegment.ofAddress(base).reinterpret(len);
            }
            return bufs;
        }
    }
}
