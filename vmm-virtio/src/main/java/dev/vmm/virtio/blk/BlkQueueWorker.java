package dev.vmm.virtio.blk;

import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.QueueWorker;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.vmm.virtio.blk.VirtioBlk.*;

/**
 * Serves one virtio-blk request queue on its {@link IoThread}: pops chains on a kick, validates and
 * turns them into backend requests, and on completion writes the status byte, returns the chain to
 * the used ring and (once per loop round) notifies the driver if it asked for it.
 *
 * <p>Request layout (virtio 1.x §5.2.6, any descriptor layout): device-readable part = 16-byte
 * header {@code type, reserved, sector} + data-out; device-writable part = data-in + 1 status byte
 * (the chain's last byte). Problems that leave no way to answer (no status byte, header shorter
 * than 16 bytes, a malformed ring) stop the queue and report DEVICE_NEEDS_RESET; everything else
 * becomes IOERR or UNSUPP in the status byte. Nothing guest-controlled throws out of here.
 *
 * <p>The queue's life cycle (kicks, pop loop, request pool, stop/drain, completion rounds) is
 * {@link QueueWorker}'s. All state is confined to the I/O thread, except {@link #stats} which other
 * threads read.
 */
final class BlkQueueWorker extends QueueWorker<BlkQueueWorker.Request> {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final java.lang.invoke.VarHandle HEADER_U32 =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(int[].class, java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.invoke.VarHandle HEADER_U64 =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, java.nio.ByteOrder.LITTLE_ENDIAN);

    /** One in-flight request: its chain and its pre-allocated iovec array. */
    static final class Request extends QueueWorker.Request {
        final MemorySegment iovecs;
        final byte[] header = new byte[16];
        final long[] segs = new long[3 * BlkConfig.MAX_DISCARD_SEGMENTS];
        int type;
        long offset;
        long bytes;
        int iovCount;
        int pending;
        int status;
        int usedLen;
        long start;

        Request(int slot, MemorySegment iovecs) {
            super(slot);
            this.iovecs = iovecs;
        }
    }

    private final VirtioBlk device;
    private final GuestMemory memory;
    private final boolean discardNegotiated;
    private final boolean writeZeroesNegotiated;
    private final ThrottleGroup throttle;
    private final byte[] statusByte = new byte[1];
    /**
     * A held request asks again at least this often: limits change at run time (QMP
     * block_set_io_throttle), and a wait computed under a tiny old limit must not outlive it.
     */
    private static final long MAX_THROTTLE_WAIT_NANOS = 100_000_000L;
    final BlkQueueStats stats;
    private BlkBackendQueue backend;
    /** A popped request waiting for its throttle budget; the queue is not drained past it. */
    private Request held;

    BlkQueueWorker(VirtioBlk device, int index, SplitQueue queue, GuestMemory memory, IoThread thread,
                   VirtioInterrupt irq, int kickFd, long features, BlkQueueStats stats) {
        super(index, queue, thread, irq, kickFd);
        this.device = device;
        this.memory = memory;
        this.discardNegotiated = (features & VIRTIO_BLK_F_DISCARD) != 0;
        this.writeZeroesNegotiated = (features & VIRTIO_BLK_F_WRITE_ZEROES) != 0;
        this.throttle = device.config().throttle();
        this.stats = stats;
        long iovBytes = Libc.IOVEC.byteSize() * (device.config().segMax() + 2);
        MemorySegment iovAll = arena.allocate(iovBytes * queue.size(), 8);
        createPool(i -> new Request(i, iovAll.asSlice(iovBytes * i, iovBytes)));
    }

    // ---- life cycle (QueueWorker) ------------------------------------------------------------

    @Override
    protected void open() {
        backend = device.backend().openQueue(thread, this::onComplete);
    }

    @Override
    protected boolean idle() { return backend == null || backend.inFlight() == 0; }

    @Override
    protected void close() {
        if (backend != null) backend.close(); // null: start() failed before the backend queue opened
    }

    @Override
    protected boolean paused() { return held != null; }

    @Override
    protected void onStop() { held = null; }

    /** A snapshot waits for nothing: a throttled request is submitted at once. */
    @Override
    protected void onDrain() {
        Request r = held;
        if (r != null && !isBroken() && !isStopping()) {
            held = null;
            submit(r);
        }
    }

    @Override
    protected void reportQueueError(String reason) {
        stats.queueErrors++;
        // One line per broken queue: the transport logs the reason when it sets DEVICE_NEEDS_RESET.
        irq.deviceNeedsReset("queue " + index + ": " + reason);
    }

    // ---- the data path ----------------------------------------------------------------------

    /** Validates and starts one request; false if the loop must stop (queue broken, or throttled). */
    @Override
    protected boolean handle(Request r) {
        r.start = System.nanoTime();
        DescriptorChain c = r.chain;
        if (c.writableBytes() < 1) {
            queueError("request (head " + c.head() + ") has no writable status byte");
            return false;
        }
        if (c.readableBytes() < 16) {
            queueError("request header (head " + c.head() + ") is "
                    + c.readableBytes() + " bytes, need 16");
            return false;
        }
        c.readFromChain(0, r.header);
        // Byte-array views, not MemorySegment.ofArray: a heap segment and its session per request
        // showed in the JFR allocation profile of the request path (issue #19, no allocation per request).
        r.type = (int) HEADER_U32.get(r.header, 0);
        long sector = (long) HEADER_U64.get(r.header, 8);
        long dataOut = c.readableBytes() - 16;
        long dataIn = c.writableBytes() - 1;
        r.status = VIRTIO_BLK_S_OK;
        r.usedLen = 1;
        r.pending = 0;
        r.bytes = 0;
        long capacity = device.capacitySectors();
        switch (r.type) {
            case VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT -> {
                boolean write = r.type == VIRTIO_BLK_T_OUT;
                long len = write ? dataOut : dataIn;
                if (write) {
                    stats.writes++;
                } else {
                    stats.reads++;
                    r.usedLen = (int) Math.min(Integer.MAX_VALUE, dataIn + 1);
                }
                if ((write ? dataIn : dataOut) != 0 || (len & 511) != 0 || !inRange(sector, len >>> 9, capacity)
                        || (write && device.readOnly())) {
                    return finishNow(r, VIRTIO_BLK_S_IOERR);
                }
                if (len == 0) return finishNow(r, VIRTIO_BLK_S_OK);
                r.offset = sector << 9;
                r.bytes = len;
                if (!buildIovecs(r, write ? 16 : 0, len, !write)) return finishNow(r, VIRTIO_BLK_S_IOERR);
                return admit(r, write);
            }
            case VIRTIO_BLK_T_FLUSH -> {
                stats.flushes++;
                if (device.backend().writeThrough()) return finishNow(r, VIRTIO_BLK_S_OK);
                r.pending = 1;
                backend.flush(r.slot);
                return true;
            }
            case VIRTIO_BLK_T_GET_ID -> {
                byte[] id = device.serialBytes();
                int n = (int) Math.min(VIRTIO_BLK_ID_BYTES, dataIn);
                byte[] out = new byte[n];
                System.arraycopy(id, 0, out, 0, Math.min(n, id.length));
                c.writeToChain(0, out);
                r.usedLen = n + 1;
                return finishNow(r, VIRTIO_BLK_S_OK);
            }
            case VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES -> {
                boolean discard = r.type == VIRTIO_BLK_T_DISCARD;
                if (discard) stats.discards++; else stats.writeZeroes++;
                if (!(discard ? discardNegotiated : writeZeroesNegotiated)) return finishNow(r, VIRTIO_BLK_S_UNSUPP);
                if (device.readOnly()) return finishNow(r, VIRTIO_BLK_S_IOERR);
                if (dataOut == 0 || dataOut % 16 != 0 || dataOut / 16 > BlkConfig.MAX_DISCARD_SEGMENTS) {
                    return finishNow(r, VIRTIO_BLK_S_IOERR);
                }
                int nseg = (int) (dataOut / 16);
                byte[] raw = new byte[(int) dataOut];
                c.readFromChain(16, raw);
                MemorySegment s = MemorySegment.ofArray(raw);
                for (int i = 0; i < nseg; i++) {
                    long start = s.get(U64, 16L * i);
                    long num = Integer.toUnsignedLong(s.get(U32, 16L * i + 8));
                    int flags = s.get(U32, 16L * i + 12);
                    // Spec: discard with the unmap flag, or any reserved flag bit, is UNSUPP.
                    if (discard ? flags != 0 : (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0) {
                        return finishNow(r, VIRTIO_BLK_S_UNSUPP);
                    }
                    if (num > BlkConfig.MAX_DISCARD_SECTORS || !inRange(start, num, capacity)) {
                        return finishNow(r, VIRTIO_BLK_S_IOERR);
                    }
                    r.segs[3 * i] = start << 9;
                    r.segs[3 * i + 1] = num << 9;
                    r.segs[3 * i + 2] = flags & device.unmapMask();
                    r.bytes += num << 9;
                }
                r.iovCount = nseg;
                return admit(r, true);
            }
            default -> {
                stats.unsupported++;
                return finishNow(r, VIRTIO_BLK_S_UNSUPP);
            }
        }
    }

    private static boolean inRange(long sector, long count, long capacity) {
        return Long.compareUnsigned(sector, capacity) <= 0 && count <= capacity - sector;
    }

    /**
     * Fills the request's iovecs with {@code len} bytes of the readable ({@code !writable}) or
     * writable part starting {@code from} bytes into it. False if more pieces than seg_max allows.
     */
    private boolean buildIovecs(Request r, long from, long len, boolean writable) {
        DescriptorChain c = r.chain;
        int first = writable ? c.readableCount() : 0;
        int end = writable ? c.count() : c.readableCount();
        int cap = (int) (r.iovecs.byteSize() / 16);
        int n = 0;
        long skip = from, left = len;
        for (int i = first; i < end && left > 0; i++) {
            long blen = c.length(i);
            if (skip >= blen) {
                skip -= blen;
                continue;
            }
            long take = Math.min(blen - skip, left);
            if (take == 0) continue;
            if (n == cap) return false;
            long host = memory.hostAddress(c.address(i) + skip, take);
            r.iovecs.set(ValueLayout.JAVA_LONG, 16L * n, host);
            r.iovecs.set(ValueLayout.JAVA_LONG, 16L * n + 8, take);
            n++;
            left -= take;
            skip = 0;
        }
        r.iovCount = n;
        return left == 0;
    }

    /** Asks the throttle, then submits; a throttled request is held and retried by a timer. */
    private boolean admit(Request r, boolean write) {
        if (throttle != null && throttle.active()) {
            long wait = throttle.reserve(write, r.bytes);
            if (wait > 0) {
                held = r;
                stats.throttled++;
                thread.schedule(System.nanoTime() + Math.min(wait, MAX_THROTTLE_WAIT_NANOS), this::retryHeld);
                return false;
            }
        }
        submit(r);
        return true;
    }

    private void retryHeld() {
        Request r = held;
        if (r == null || isStopping() || isBroken()) return;
        boolean write = r.type != VIRTIO_BLK_T_IN;
        long wait = throttle.active() ? throttle.reserve(write, r.bytes) : 0;
        if (wait > 0) {
            thread.schedule(System.nanoTime() + Math.min(wait, MAX_THROTTLE_WAIT_NANOS), this::retryHeld);
            return;
        }
        held = null;
        submit(r);
        process();
    }

    private void submit(Request r) {
        switch (r.type) {
            case VIRTIO_BLK_T_IN -> { r.pending = 1; backend.read(r.offset, r.iovecs, r.iovCount, r.slot); }
            case VIRTIO_BLK_T_OUT -> { r.pending = 1; backend.write(r.offset, r.iovecs, r.iovCount, r.slot); }
            case VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES -> {
                int nseg = r.iovCount;
                r.pending = nseg;
                for (int i = 0; i < nseg; i++) {
                    long off = r.segs[3 * i], len = r.segs[3 * i + 1];
                    if (len == 0) {
                        onComplete(r.slot, 0);
                    } else if (r.type == VIRTIO_BLK_T_DISCARD) {
                        backend.discard(off, len, r.slot);
                    } else {
                        backend.writeZeroes(off, len, r.segs[3 * i + 2] != 0, r.slot);
                    }
                }
            }
            default -> throw new IllegalStateException("not a data request: " + r.type);
        }
    }

    private void onComplete(long token, int res) {
        Request r = request((int) token);
        if (res < 0) {
            r.status = VIRTIO_BLK_S_IOERR;
            stats.errors++;
        } else if ((r.type == VIRTIO_BLK_T_IN || r.type == VIRTIO_BLK_T_OUT) && res != r.bytes) {
            r.status = VIRTIO_BLK_S_IOERR; // short transfer: the image shrank under us
            stats.errors++;
        } else if (r.type == VIRTIO_BLK_T_IN) {
            stats.bytesRead += res;
        } else if (r.type == VIRTIO_BLK_T_OUT) {
            stats.bytesWritten += res;
        }
        if (--r.pending > 0) return;
        finish(r);
        requestDone();
    }

    private boolean finishNow(Request r, int status) {
        r.status = status;
        if (status == VIRTIO_BLK_S_IOERR) stats.errors++;
        finish(r);
        return !isBroken();
    }

    /** Writes the status byte and returns the chain to the driver (QueueWorker schedules the notification). */
    private void finish(Request r) {
        statusByte[0] = (byte) r.status; // one reusable array: only this worker's I/O thread is here
        if (complete(r, r.chain.writableBytes() - 1, statusByte, r.usedLen)) {
            stats.latency.recordValue(Math.max(0, System.nanoTime() - r.start));
        }
    }
}
