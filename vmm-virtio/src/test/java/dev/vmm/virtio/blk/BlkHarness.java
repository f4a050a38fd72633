package dev.vmm.virtio.blk;

import dev.vmm.virtio.testing.SplitRingDriver;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static dev.vmm.virtio.testing.SplitRingDriver.Buf;

/** Guest RAM, I/O threads, a device over a backend, and one test driver per queue. */
final class BlkHarness implements AutoCloseable {
    static final long RAM = 64L << 20;
    static final long DATA_BASE = 1L << 20;
    static final long DATA_PER_QUEUE = 8L << 20;

    /** Records what the device signals. */
    static final class Irq implements VirtioInterrupt {
        final AtomicIntegerArray used = new AtomicIntegerArray(16);
        final ConcurrentLinkedQueue<String> needsReset = new ConcurrentLinkedQueue<>();

        @Override public void signalUsedBuffer(int q) { used.incrementAndGet(q); }

        @Override public void signalConfigChange() { }

        @Override public void deviceNeedsReset(String reason) { needsReset.add(reason); }
    }

    record Result(int status, int usedLen, byte[] data) { }

    final Arena arena = Arena.ofShared();
    final GuestMemory mem;
    final List<IoThread> threads = new ArrayList<>();
    final BlkBackend backend;
    final VirtioBlk dev;
    final Irq irq = new Irq();
    final SplitRingDriver[] drivers;
    final List<SplitQueue> queues = new ArrayList<>();
    final List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final long[] bump;

    BlkHarness(BlkBackend backend, BlkConfig config, int nThreads) throws Exception {
        this(backend, config, nThreads, -1L);
    }

    /** {@code features}: what the driver accepts (-1: everything offered). */
    BlkHarness(BlkBackend backend, BlkConfig config, int nThreads, long features) throws Exception {
        MemorySegment ram = arena.allocate(RAM, 4096);
        mem = new GuestMemory(List.of(new GuestRegion(0, 0, ram)));
        for (int i = 0; i < nThreads; i++) {
            IoThread t = new IoThread("blk-io-" + i, 128, log::add);
            t.start();
            threads.add(t);
        }
        this.backend = backend;
        dev = new VirtioBlk(backend, config, threads, log::add);
        int n = config.numQueues();
        drivers = new SplitRingDriver[n];
        bump = new long[n];
        for (int q = 0; q < n; q++) {
            drivers[q] = new SplitRingDriver(mem, config.queueSize(), 0x10000L * (q + 1));
            SplitQueue sq = drivers[q].queue(true);
            sq.activate(mem);
            queues.add(sq);
            bump[q] = DATA_BASE + q * DATA_PER_QUEUE;
        }
        long f = features == -1L ? dev.deviceFeatures() : features;
        dev.activate(mem, f, queues, irq);
    }

    /** Guest buffer space of {@code len} bytes in queue {@code q}'s data area (wraps around). */
    long alloc(int q, long len) {
        long base = DATA_BASE + q * DATA_PER_QUEUE;
        long a = (bump[q] + 4095) & ~4095L;
        if (a + len > base + DATA_PER_QUEUE) a = base;
        bump[q] = a + len;
        return a;
    }

    /** Builds a standard request chain: header, data-out, data-in, status. Returns {head, dataInAddr, statusAddr}. */
    long[] post(int q, int type, long sector, byte[] out, int inLen) {
        long hdr = alloc(q, 16);
        MemorySegment h = mem.slice(hdr, 16);
        h.set(ValueLayout.JAVA_INT_UNALIGNED, 0, type);
        h.set(ValueLayout.JAVA_INT_UNALIGNED, 4, 0);
        h.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, sector);
        List<Buf> bufs = new ArrayList<>();
        bufs.add(new Buf(hdr, 16, false));
        if (out != null && out.length > 0) {
            long a = alloc(q, out.length);
            mem.write(a, out);
            bufs.add(new Buf(a, out.length, false));
        }
        long in = 0;
        if (inLen > 0) {
            in = alloc(q, inLen);
            mem.write(in, new byte[inLen]);
            bufs.add(new Buf(in, inLen, true));
        }
        long st = alloc(q, 1);
        mem.writeU8(st, (byte) 0x7F);
        bufs.add(new Buf(st, 1, true));
        int head = drivers[q].add(bufs.toArray(new Buf[0]));
        return new long[] {head, in, st};
    }

    /** One request, waited for. */
    Result request(int q, int type, long sector, byte[] out, int inLen) throws InterruptedException {
        long[] p = post(q, type, sector, out, inLen);
        dev.queueNotify(q);
        SplitRingDriver.Used u = drivers[q].waitUsed(10_000);
        if (u == null) throw new AssertionError("no completion on queue " + q + "; log " + log + " resets " + irq.needsReset);
        if (u.id() != p[0]) throw new AssertionError("completed head " + u.id() + ", expected " + p[0]);
        byte[] data = new byte[inLen];
        if (inLen > 0) mem.read(p[1], data, 0, inLen);
        return new Result(Byte.toUnsignedInt(mem.readU8(p[2])), u.len(), data);
    }

    Result read(int q, long sector, int bytes) throws InterruptedException {
        return request(q, VirtioBlk.VIRTIO_BLK_T_IN, sector, null, bytes);
    }

    Result write(int q, long sector, byte[] data) throws InterruptedException {
        return request(q, VirtioBlk.VIRTIO_BLK_T_OUT, sector, data, 0);
    }

    static byte[] segments(long... sectorCountFlags) {
        MemorySegment s = MemorySegment.ofArray(new byte[sectorCountFlags.length / 3 * 16]);
        for (int i = 0; i < sectorCountFlags.length / 3; i++) {
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, 16L * i, sectorCountFlags[3 * i]);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 16L * i + 8, (int) sectorCountFlags[3 * i + 1]);
            s.set(ValueLayout.JAVA_INT_UNALIGNED, 16L * i + 12, (int) sectorCountFlags[3 * i + 2]);
        }
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    @Override
    public void close() {
        dev.close();
        for (IoThread t : threads) t.close();
        backend.close();
        arena.close();
    }
}
