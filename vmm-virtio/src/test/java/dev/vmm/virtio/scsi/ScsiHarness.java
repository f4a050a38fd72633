package dev.vmm.virtio.scsi;

import dev.vmm.memory.GuestMemory;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.queue.TestRings;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Guest RAM, I/O threads, a VirtioScsi over a target, and a guest driver for each of its queues.
 *
 * <p>Every wait of the tests is bounded by {@link #WAIT_MS} and then fails naming what did not
 * happen, closing included ({@link #close} gives the device and its threads {@link #WAIT_MS} to
 * stop): a device that stops making progress (a worker that never completes a chain, never
 * answers a stop) fails the test within seconds instead of hanging it on the production's own
 * 30/60 s stop timeouts. That is also what makes such a mutant KILLED under PIT rather than
 * TIMED_OUT (each timeout costs PIT a new minion JVM; docs/testing.md).
 */
final class ScsiHarness implements AutoCloseable {
    static final int CDB = VirtioScsi.DEFAULT_CDB_SIZE, SENSE = VirtioScsi.DEFAULT_SENSE_SIZE;
    static final int REQ = 19 + CDB, RESP = 12 + SENSE;
    /** How long any single step the tests wait for may take: a completion, an event, a stop. */
    static final long WAIT_MS = 5000;

    static final class Irq implements VirtioInterrupt {
        final AtomicIntegerArray used = new AtomicIntegerArray(64);
        final ConcurrentLinkedQueue<String> needsReset = new ConcurrentLinkedQueue<>();

        @Override public void signalUsedBuffer(int q) { used.incrementAndGet(q); }

        @Override public void signalConfigChange() { }

        @Override public void deviceNeedsReset(String reason) { needsReset.add(reason); }
    }

    record Resp(int senseLen, long resid, int status, int response, byte[] sense, byte[] data, int usedLen) {
        int senseKey() { return sense.length > 2 ? sense[2] & 0x0F : -1; }

        int asc() { return sense.length > 12 ? sense[12] & 0xFF : -1; }
    }

    final TestRings rings = new TestRings(0x10000, 96L << 20);
    final GuestMemory mem = rings.memory();
    final List<IoThread> threads = new ArrayList<>();
    VirtioScsi dev;
    final Irq irq = new Irq();
    final TestRings.Driver[] drivers;
    final List<SplitQueue> queues = new ArrayList<>();
    final List<String> log = new CopyOnWriteArrayList<>();

    ScsiHarness(ScsiTarget target, ScsiConfig cfg, int nThreads) throws Exception {
        this(target, cfg, nThreads, List.of());
    }

    ScsiHarness(ScsiTarget target, ScsiConfig cfg, int nThreads, List<dev.vmm.virtio.blk.BlkBackend> dataPaths) throws Exception {
        for (int i = 0; i < nThreads; i++) {
            IoThread t = new IoThread("scsi-io-" + i, 128, log::add);
            t.start();
            threads.add(t);
        }
        dev = new VirtioScsi(target, cfg, threads, dataPaths, log::add);
        this.cfg = cfg;
        drivers = new TestRings.Driver[dev.queueCount()];
        activateFresh();
    }

    private final ScsiConfig cfg;

    /** After {@code dev.reset()}: new rings for every queue and DRIVER_OK again, as a driver re-probing. */
    void reactivate() throws Exception {
        activateFresh();
    }

    private void activateFresh() throws Exception {
        queues.clear();
        for (int q = 0; q < drivers.length; q++) {
            drivers[q] = rings.queue(cfg.queueSize());
            SplitQueue sq = drivers[q].configure(new SplitQueue(cfg.queueSize()));
            sq.setEventIdx(true);
            sq.activate(mem);
            queues.add(sq);
        }
        dev.activate(mem, dev.deviceFeatures(), queues, irq);
    }

    /**
     * The restore half of a snapshot round trip, as the transport does it: {@code next} (a fresh
     * device over the same disks) loads {@code state} and is activated over queues on the same
     * rings at the old ones' positions (next-available moved back by {@code rewind}); the old
     * device (already quiesced) is closed.
     */
    void restoreInto(VirtioScsi next, int version, byte[] state, int[] rewind) throws Exception {
        next.loadState(version, state);
        List<SplitQueue> restored = new ArrayList<>();
        for (int q = 0; q < drivers.length; q++) {
            SplitQueue old = queues.get(q);
            SplitQueue sq = drivers[q].configure(new SplitQueue(cfg.queueSize()));
            sq.setEventIdx(true);
            sq.setNextAvail((old.nextAvail() - rewind[q]) & 0xFFFF);
            sq.setNextUsed(old.nextUsed());
            sq.activate(mem);
            restored.add(sq);
        }
        closeWithin(dev::close, "the quiesced virtio-scsi device");
        queues.clear();
        queues.addAll(restored);
        dev = next;
        dev.activate(mem, dev.deviceFeatures(), queues, irq);
    }

    synchronized long alloc(long len) {
        return rings.alloc(Math.max(1, len), 8);
    }

    static byte[] lun(int lun) {
        return VirtioScsiLun.encode(0, lun);
    }

    /** Posts a command on virtio queue {@code q}; returns {head, respAddr, dataInAddr}. */
    long[] post(int q, byte[] lun8, byte[] cdb, byte[] out, int inLen) {
        long req = alloc(REQ);
        byte[] h = new byte[REQ];
        System.arraycopy(lun8, 0, h, 0, 8);
        MemorySegment.ofArray(h).set(ValueLayout.JAVA_LONG_UNALIGNED, 8, 0x1234L); // tag
        System.arraycopy(cdb, 0, h, 19, Math.min(cdb.length, CDB));
        mem.write(req, h);
        List<long[]> bufs = new ArrayList<>(); // addr, len, writable
        bufs.add(new long[] {req, REQ, 0});
        if (out != null && out.length > 0) {
            long a = alloc(out.length);
            mem.write(a, out);
            bufs.add(new long[] {a, out.length, 0});
        }
        long resp = alloc(RESP);
        mem.write(resp, new byte[RESP]);
        bufs.add(new long[] {resp, RESP, 1});
        long in = 0;
        if (inLen > 0) {
            in = alloc(inLen);
            mem.write(in, new byte[inLen]);
            bufs.add(new long[] {in, inLen, 1});
        }
        int head = add(q, bufs);
        return new long[] {head, resp, in};
    }

    int add(int q, List<long[]> bufs) {
        long[] a = new long[bufs.size()];
        int[] l = new int[bufs.size()];
        boolean[] w = new boolean[bufs.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = bufs.get(i)[0];
            l[i] = (int) bufs.get(i)[1];
            w[i] = bufs.get(i)[2] != 0;
        }
        return drivers[q].add(a, l, w);
    }

    TestRings.Used waitUsed(int q, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            TestRings.Used u = drivers[q].pollUsed();
            if (u != null) return u;
            if (System.nanoTime() > deadline) return null;
            Thread.sleep(0, 200_000);
        }
    }

    Resp read(long[] p, TestRings.Used u, int inLen) {
        MemorySegment r = mem.slice(p[1], RESP);
        int senseLen = r.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        byte[] sense = new byte[Math.min(senseLen, SENSE)];
        MemorySegment.copy(r, ValueLayout.JAVA_BYTE, 12, sense, 0, sense.length);
        byte[] data = new byte[inLen];
        if (inLen > 0) mem.read(p[2], data, 0, inLen);
        return new Resp(senseLen, Integer.toUnsignedLong(r.get(ValueLayout.JAVA_INT_UNALIGNED, 4)),
                r.get(ValueLayout.JAVA_BYTE, 10) & 0xFF, r.get(ValueLayout.JAVA_BYTE, 11) & 0xFF, sense, data, u.len());
    }

    /** One command on virtio queue {@code q}, waited for. */
    Resp command(int q, byte[] lun8, byte[] cdb, byte[] out, int inLen) throws InterruptedException {
        long[] p = post(q, lun8, cdb, out, inLen);
        dev.queueNotify(q);
        TestRings.Used u = waitUsed(q, WAIT_MS);
        if (u == null) throw new AssertionError("no completion on queue " + q + "; log " + log + " resets " + irq.needsReset);
        if (u.id() != p[0]) throw new AssertionError("completed head " + u.id() + ", expected " + p[0]);
        return read(p, u, inLen);
    }

    Resp cmd(int lun, byte[] cdb, byte[] out, int inLen) throws InterruptedException {
        return command(VirtioScsi.FIRST_REQUEST_QUEUE, lun(lun), cdb, out, inLen);
    }

    /** A TMF on the control queue; posts it and returns {head, respAddr}. */
    long[] postTmf(int subtype, byte[] lun8) {
        long req = alloc(24), resp = alloc(1);
        MemorySegment m = mem.slice(req, 24);
        m.set(ValueLayout.JAVA_INT_UNALIGNED, 0, VirtioScsi.T_TMF);
        m.set(ValueLayout.JAVA_INT_UNALIGNED, 4, subtype);
        MemorySegment.copy(lun8, 0, m, ValueLayout.JAVA_BYTE, 8, 8);
        m.set(ValueLayout.JAVA_LONG_UNALIGNED, 16, 0x1234L);
        mem.writeU8(resp, (byte) 0x7F);
        int head = add(VirtioScsi.CONTROL_QUEUE, List.of(new long[] {req, 24, 0}, new long[] {resp, 1, 1}));
        dev.queueNotify(VirtioScsi.CONTROL_QUEUE);
        return new long[] {head, resp};
    }

    int tmf(int subtype, byte[] lun8) throws InterruptedException {
        long[] p = postTmf(subtype, lun8);
        TestRings.Used u = waitUsed(VirtioScsi.CONTROL_QUEUE, WAIT_MS);
        if (u == null || u.id() != p[0]) throw new AssertionError("TMF not completed: " + u + " log " + log);
        return mem.readU8(p[1]) & 0xFF;
    }

    private final List<Runnable> beforeClose = new ArrayList<>();

    /** Runs {@code r} first on {@link #close}, e.g. opening a test disk's gate so no read stays held. */
    void beforeClose(Runnable r) {
        beforeClose.add(r);
    }

    /**
     * Returns once every task handed to I/O thread {@code i} before this call has run (tasks run
     * in order); fails if the thread does not get there within {@link #WAIT_MS}.
     */
    void barrier(int i) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        threads.get(i).execute(() -> done.complete(null));
        try {
            done.get(WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new AssertionError("I/O thread " + i + " did not run a task within " + WAIT_MS + " ms; log " + log, e);
        }
    }

    /**
     * Runs {@code close} on a helper thread and fails if it takes more than {@link #WAIT_MS} (a
     * worker that never stops would otherwise hold the test for the device's own stop timeouts).
     */
    private void closeWithin(Runnable close, String what) {
        CompletableFuture<Void> done = CompletableFuture.runAsync(close, r -> {
            Thread t = new Thread(r, "scsi-test-close");
            t.setDaemon(true);
            t.start();
        });
        try {
            done.get(WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not close within " + WAIT_MS + " ms; log " + log);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted closing " + what, e);
        } catch (ExecutionException e) {
            throw new AssertionError("closing " + what + " failed", e.getCause());
        }
    }

    @Override
    public void close() {
        beforeClose.forEach(Runnable::run);
        closeWithin(() -> {
            dev.close();
            for (IoThread t : threads) t.close();
        }, "virtio-scsi and its I/O threads");
        rings.close();
    }
}
