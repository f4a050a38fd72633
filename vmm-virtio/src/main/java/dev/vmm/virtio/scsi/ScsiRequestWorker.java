package dev.vmm.virtio.scsi;

import dev.vmm.ffm.libc.Errno;
import dev.vmm.memory.GuestMemory;
import dev.vmm.scsi.DataBuffer;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiResult;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.BlkBackendQueue;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.QueueWorker;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;

import static dev.vmm.virtio.scsi.VirtioScsi.*;

/**
 * Serves one virtio-scsi request queue on its {@link IoThread}.
 *
 * <p>Request layout (§5.6.6.1, any descriptor split): device-readable = {@code lun[8], id,
 * task_attr, prio, crn, cdb[cdb_size]} + data-out; device-writable = {@code sense_len, residual,
 * status_qualifier, status, response, sense[sense_size]} + data-in. A chain without room for the
 * response header leaves no way to answer: the queue stops with DEVICE_NEEDS_RESET. A short
 * request header is answered VIRTIO_SCSI_S_FAILURE; a target other than 0 VIRTIO_SCSI_S_BAD_TARGET;
 * everything about the command itself is the SCSI target's business (CHECK CONDITION + sense).
 *
 * <p>State is confined to the I/O thread. READ/WRITE on a LUN with an asynchronous data path (a
 * raw image through io_uring, {@link VirtioScsi#dataPath}) are validated by the target
 * ({@link ScsiDisk#plainTransfer}) and submitted straight from guest memory on this thread; every
 * other disk command runs on the device's pool and comes back through {@link IoThread#execute}.
 * Nothing the guest does makes this throw. The queue's life cycle (kicks, pop loop, request pool,
 * stop/drain, completion rounds) is {@link QueueWorker}'s.
 */
final class ScsiRequestWorker extends QueueWorker<ScsiRequestWorker.Request> {
    private static final int IOV_MAX = 1024;

    static final class Request extends QueueWorker.Request {
        int lun;
        int respSize;
        // A command in flight (pool or data path).
        byte[] cdb;
        DataBuffer out, in;
        // Data path only: the validated transfer, its iovec array, and whether the FUA flush runs.
        ScsiDisk.Transfer transfer;
        /** The unit the transfer runs on (it may be detached meanwhile: its completion still goes to it). */
        ScsiDisk disk;
        MemorySegment iov;
        int iovCapacity;
        boolean flushing;

        Request(int slot) { super(slot); }
    }

    private final VirtioScsi device;
    private final ScsiTarget target;
    private final GuestMemory memory;
    /** Per LUN: the data path's channel for this queue, or null (READ/WRITE then run on the pool). */
    private final BlkBackendQueue[] fast;
    private int inFlight;

    ScsiRequestWorker(VirtioScsi device, int index, SplitQueue queue, GuestMemory memory, IoThread thread,
                      VirtioInterrupt irq, int kickFd) {
        super(index, queue, thread, irq, kickFd);
        this.device = device;
        this.target = device.target();
        this.memory = memory;
        createPool(Request::new);
        fast = new BlkBackendQueue[device.dataPathSlots()]; // indexed by LUN (start-up LUNs may leave gaps)
    }

    // ---- life cycle (QueueWorker) ------------------------------------------------------------

    @Override
    protected void open() {
        for (int lun = 0; lun < fast.length; lun++) {
            BlkBackend b = device.dataPath(lun);
            if (b != null) fast[lun] = b.openQueue(thread, this::onFastDone);
        }
    }

    /** Commands on the pool or the io_uring data path; a popped request is in flight until it completes. */
    @Override
    protected boolean idle() { return inFlight == 0; }

    @Override
    protected void close() {
        for (int i = 0; i < fast.length; i++) {
            if (fast[i] != null) fast[i].close();
            fast[i] = null;
        }
    }

    @Override
    protected void reportQueueError(String reason) {
        String msg = "virtio-scsi queue " + index + ": " + reason;
        device.log(msg + "; device needs reset");
        irq.deviceNeedsReset(msg);
    }

    // ---- commands ---------------------------------------------------------------------------

    /** Validates and runs (or dispatches) one command; false if the queue broke. */
    @Override
    protected boolean handle(Request r) {
        DescriptorChain c = r.chain;
        int cdbSize = device.cdbSize();
        int reqSize = REQ_HEADER_FIXED + cdbSize;
        r.respSize = RESP_HEADER_FIXED + device.senseSize();
        if (c.writableBytes() < r.respSize) {
            queueError("request (head " + c.head() + ") has " + c.writableBytes() + " writable bytes, the response needs " + r.respSize);
            return false;
        }
        long dataOutLen = c.readableBytes() - reqSize, dataInLen = c.writableBytes() - r.respSize;
        if (dataOutLen < 0) return finish(r, S_FAILURE, null, dataInLen);
        byte[] hdr = new byte[reqSize];
        c.readFromChain(0, hdr);
        byte[] lunField = Arrays.copyOf(hdr, 8);
        if (VirtioScsiLun.target(lunField) != 0) return finish(r, S_BAD_TARGET, null, Math.max(dataInLen, dataOutLen));
        int lun = VirtioScsiLun.lun(lunField);
        byte[] cdb = Arrays.copyOfRange(hdr, REQ_HEADER_FIXED, reqSize);
        DataBuffer out = buffer(c, false, reqSize), in = buffer(c, true, r.respSize);
        BlkBackendQueue fq = lun >= 0 && lun < fast.length ? fast[lun] : null;
        ScsiDisk.Transfer t = null;
        boolean counted = fq != null;
        if (counted) {
            // Counted in before the unit is looked up, as for the pool: a detachLun that then sees no
            // command in flight knows none can reach the unit's data path (its image is closed next).
            device.lunInFlight.incrementAndGet(lun);
            ScsiDisk unit = target.lun(lun);
            // Only the disk the data path was made for: a LUN detached and plugged again is another disk.
            if (unit != null && unit == device.dataPathDisk(lun)) {
                t = unit.plainTransfer(cdb, out, in);
                r.disk = unit;
            }
        }
        if (t == null && !target.touchesDisk(lun, cdb)) {
            if (counted && device.lunInFlight.decrementAndGet(lun) == 0) device.lunIdle(lun);
            return finish(r, S_OK, target.execute(lun, cdb, out, in), 0);
        }

        r.lun = lun;
        r.cdb = cdb;
        r.out = out;
        r.in = in;
        inFlight++;
        device.totalInFlight.incrementAndGet();
        if (!counted) device.lunInFlight.incrementAndGet(lun); // before the pool looks the unit up (VirtioScsi.detachLun relies on it)
        int n = t == null ? 0 : fillIov(r, t.write() ? out : in, t.bytes());
        if (n > 0) {
            r.transfer = t;
            r.flushing = false;
            if (t.write()) fq.write(t.offset(), r.iov, n, r.slot);
            else fq.read(t.offset(), r.iov, n, r.slot);
        } else {
            runOnPool(r);
        }
        return true;
    }

    /** Runs the request's command synchronously on the device's pool; the answer comes back to this thread. */
    private void runOnPool(Request r) {
        int lun = r.lun;
        byte[] cdb = r.cdb;
        DataBuffer out = r.out, in = r.in;
        try {
            device.pool().execute(() -> {
                ScsiResult res;
                try {
                    res = target.execute(lun, cdb, out, in);
                } catch (Throwable t) {
                    res = null;
                }
                ScsiResult done = res;
                thread.execute(() -> onComplete(r, done, Math.max(out.size(), in.size())));
            });
        } catch (RejectedExecutionException e) { // the pool is shut down: the device is closing
            onComplete(r, null, Math.max(out.size(), in.size()));
        }
    }

    /**
     * Writes the iovecs of the first {@code bytes} of {@code buf} into the request's array; returns
     * their count, or 0 when there are more than readv/writev take (IOV_MAX: only a chain of indirect
     * descriptors far beyond seg_max gets there; the pool path handles it).
     */
    private int fillIov(Request r, DataBuffer buf, long bytes) {
        int[] n = {0};
        buf.forEach(0, bytes, (off, piece) -> n[0]++);
        if (n[0] > IOV_MAX) return 0;
        if (r.iov == null || r.iovCapacity < n[0]) {
            r.iovCapacity = Math.max(8, Integer.highestOneBit(n[0] - 1) << 1);
            r.iov = arena.allocate(16L * r.iovCapacity, 8); // the old array stays until the queue stops: rare
        }
        MemorySegment iov = r.iov;
        int[] i = {0};
        buf.forEach(0, bytes, (off, piece) -> {
            iov.set(ValueLayout.JAVA_LONG, 16L * i[0], piece.address());
            iov.set(ValueLayout.JAVA_LONG, 16L * i[0] + 8, piece.byteSize());
            i[0]++;
        });
        return n[0];
    }

    /** A data-path completion (read, write or the FUA flush after a write). */
    private void onFastDone(long token, int result) {
        Request r = request((int) token);
        ScsiDisk.Transfer t = r.transfer;
        if (result == -Errno.EBUSY && !r.flushing) { // no free submission slot: the pool path does it instead
            runOnPool(r);
            return;
        }
        if (t.write() && t.fua() && !r.flushing && result == t.bytes()) {
            r.flushing = true;
            fast[r.lun].flush(token);
            return;
        }
        long moved = r.flushing ? (result == 0 ? t.bytes() : -1) : result;
        ScsiResult res = r.disk.transferDone(t, moved, r.out, r.in);
        onComplete(r, res, 0);
    }

    /** The data area of the readable or writable part, {@code skip} bytes in, as guest RAM slices. */
    private DataBuffer buffer(DescriptorChain c, boolean writable, long skip) {
        int first = writable ? c.readableCount() : 0, end = writable ? c.count() : c.readableCount();
        List<MemorySegment> pieces = new ArrayList<>(end - first);
        for (int i = first; i < end; i++) {
            long len = c.length(i);
            if (skip >= len) {
                skip -= len;
                continue;
            }
            pieces.add(memory.slice(c.address(i) + skip, len - skip));
            skip = 0;
        }
        return pieces.isEmpty() ? DataBuffer.EMPTY : new DataBuffer(pieces.toArray(new MemorySegment[0]));
    }

    private void onComplete(Request r, ScsiResult res, long dataLen) {
        inFlight--;
        r.cdb = null;
        r.out = r.in = null;
        r.transfer = null;
        finish(r, res == null ? S_FAILURE : S_OK, res, dataLen);
        // after the used ring entry: a TMF answers only then, and an unplugged LUN's disk is let go only then
        if (device.lunInFlight.decrementAndGet(r.lun) == 0) device.lunIdle(r.lun);
        device.totalInFlight.decrementAndGet();
        requestDone();
    }

    /**
     * Writes the response header (and sense) and returns the chain. {@code res} null: a virtio-level
     * {@code response} with nothing transferred ({@code dataLen} is then the residual).
     */
    private boolean finish(Request r, int response, ScsiResult res, long dataLen) {
        int senseSize = r.respSize - RESP_HEADER_FIXED;
        byte[] sense = res == null ? new byte[0] : res.sense();
        int senseLen = Math.min(sense.length, senseSize);
        byte[] resp = new byte[RESP_HEADER_FIXED + senseLen];
        MemorySegment m = MemorySegment.ofArray(resp);
        long resid = res == null ? dataLen : res.residual();
        m.set(ValueLayout.JAVA_INT_UNALIGNED, 0, senseLen);
        m.set(ValueLayout.JAVA_INT_UNALIGNED, 4, (int) Math.min(resid, 0xFFFFFFFFL));
        resp[10] = (byte) (res == null ? 0 : res.status());
        resp[11] = (byte) (res != null && res.overrun() ? S_OVERRUN : response);
        System.arraycopy(sense, 0, resp, RESP_HEADER_FIXED, senseLen);
        long used = r.respSize + (res == null ? 0 : res.dataIn());
        return complete(r, 0, resp, (int) Math.min(used, Integer.MAX_VALUE));
    }
}
