package dev.vmm.virtio.net;

import dev.vmm.virtio.testing.SplitRingDriver;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.queue.SplitQueue;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Predicate;

import static dev.vmm.virtio.testing.SplitRingDriver.Buf;

/** Guest RAM, I/O threads, a VirtioNet over a tap and a test driver per virtqueue. */
final class NetHarness implements AutoCloseable {
    static final long RAM = 32L << 20;
    static final int QSIZE = 128;

    static final class Irq implements VirtioInterrupt {
        final AtomicIntegerArray used = new AtomicIntegerArray(64);
        final ConcurrentLinkedQueue<String> needsReset = new ConcurrentLinkedQueue<>();
        volatile int configChanges;

        @Override public void signalUsedBuffer(int q) { used.incrementAndGet(q); }

        @Override public void signalConfigChange() { configChanges++; }

        @Override public void deviceNeedsReset(String reason) { needsReset.add(reason); }
    }

    /** A frame as the guest got it: its pair, the virtio-net header and the Ethernet frame. */
    record Received(int pair, byte[] header, byte[] frame, int numBuffers) { }

    final Arena arena = Arena.ofShared();
    final GuestMemory mem;
    final List<IoThread> threads = new ArrayList<>();
    final List<String> log = new CopyOnWriteArrayList<>();
    VirtioNet dev;
    final Tap tap;
    final MacAddress mac;
    /** Per pair, the heads of the receive chains the device used, in order. */
    final List<List<Integer>> usedHeads = new ArrayList<>();
    final Irq irq = new Irq();
    final SplitRingDriver[] drivers;
    List<SplitQueue> queues = new ArrayList<>();
    final long features;
    final int pairs;
    final int ctrlIndex;
    private final List<Map<Integer, Long>> rxAddr = new ArrayList<>();
    private long bump = 1L << 20;

    /** {@code wanted}: the features the driver would like; it accepts those the device offers. */
    NetHarness(Tap tap, MacAddress mac, long wanted, int nThreads) throws Exception {
        MemorySegment ram = arena.allocate(RAM, 4096);
        mem = new GuestMemory(List.of(new GuestRegion(0, 0, ram)));
        for (int i = 0; i < nThreads; i++) {
            IoThread t = new IoThread("net-io-" + i, 16, log::add);
            t.start();
            threads.add(t);
        }
        this.tap = tap;
        this.mac = mac;
        dev = new VirtioNet(tap, mac, QSIZE, threads, log::add);
        features = wanted & dev.deviceFeatures();
        pairs = dev.queuePairs();
        boolean mq = (features & VirtioNet.VIRTIO_NET_F_MQ) != 0;
        ctrlIndex = mq ? 2 * pairs : 2;
        drivers = new SplitRingDriver[dev.queueCount()];
        for (int q = 0; q < drivers.length; q++) {
            drivers[q] = new SplitRingDriver(mem, QSIZE, 0x10000L * (q + 1));
            boolean used = q < 2 || (mq && q < 2 * pairs) || (q == ctrlIndex && (features & VirtioNet.VIRTIO_NET_F_CTRL_VQ) != 0);
            SplitQueue sq;
            if (used) {
                sq = drivers[q].queue(true);
                sq.activate(mem);
            } else {
                sq = new SplitQueue(QSIZE);
            }
            queues.add(sq);
            rxAddr.add(new HashMap<>());
            usedHeads.add(new ArrayList<>());
        }
    }

    void activate() throws Exception {
        dev.activate(mem, features, queues, irq);
    }

    /**
     * A snapshot round trip as the transport does it: quiesces the device, saves its state, builds
     * a second device on the same tap that loads it, and activates that one over queues at the
     * saved ring positions (next-available moved back by the chains given back). Returns those counts.
     * {@code next} is built by {@link #spareDevice} before the tap moves to another namespace.
     */
    synchronized int[] saveAndRestore(VirtioNet next) throws Exception {
        int[] rewind = dev.quiesce();
        byte[] state = dev.saveState();
        next.loadState(dev.stateVersion(), state);
        List<SplitQueue> restored = new ArrayList<>();
        for (int q = 0; q < queues.size(); q++) {
            SplitQueue old = queues.get(q);
            SplitQueue sq;
            if (old.isActivated()) {
                sq = drivers[q].queue(true);
                sq.setNextAvail((old.nextAvail() - rewind[q]) & 0xFFFF);
                sq.setNextUsed(old.nextUsed());
                sq.activate(mem);
            } else {
                sq = new SplitQueue(QSIZE);
            }
            restored.add(sq);
        }
        dev.close();
        next.activate(mem, features, restored, irq);
        dev = next;
        queues = restored;
        return rewind;
    }

    /** Another device on this harness's tap and threads, with MAC {@code m}. */
    VirtioNet spareDevice(MacAddress m) {
        return new VirtioNet(tap, m, QSIZE, threads, log::add);
    }

    long alloc(long len) {
        long a = bump;
        bump = (bump + len + 63) & ~63L;
        if (bump > RAM) throw new IllegalStateException("test RAM exhausted");
        return a;
    }

    /** Posts {@code count} single-buffer receive chains of {@code size} bytes on pair {@code pair}. */
    synchronized void postRx(int pair, int count, int size) {
        for (int i = 0; i < count; i++) {
            long a = alloc(size);
            int head = drivers[2 * pair].add(new Buf(a, size, true));
            rxAddr.get(2 * pair).put(head, a);
        }
        dev.queueNotify(2 * pair);
    }

    /** Sends {@code frame} on pair {@code pair}: header and frame in two descriptors (scatter-gather). */
    void send(int pair, byte[] frame) {
        long h = alloc(VirtioNet.HDR_SIZE);
        mem.write(h, new byte[VirtioNet.HDR_SIZE]);
        long f = alloc(frame.length);
        mem.write(f, frame);
        drivers[2 * pair + 1].add(new Buf(h, VirtioNet.HDR_SIZE, false), new Buf(f, frame.length, false));
        dev.queueNotify(2 * pair + 1);
    }

    /** A control command; returns the ack byte (or -1 if no answer within 5 s). */
    int ctrl(int cls, int cmd, byte[] data) throws InterruptedException {
        long a = alloc(2 + data.length);
        mem.write(a, new byte[] {(byte) cls, (byte) cmd});
        long d = alloc(Math.max(1, data.length));
        mem.write(d, data);
        long ack = alloc(1);
        mem.writeU8(ack, (byte) 0x55);
        SplitRingDriver drv = drivers[ctrlIndex];
        if (data.length > 0) drv.add(new Buf(a, 2, false), new Buf(d, data.length, false), new Buf(ack, 1, true));
        else drv.add(new Buf(a, 2, false), new Buf(ack, 1, true));
        dev.queueNotify(ctrlIndex);
        SplitRingDriver.Used u = drv.waitUsed(5000);
        if (u == null) return -1;
        return mem.readU8(ack) & 0xFF;
    }

    /**
     * Waits up to {@code timeoutMs} for a received frame matching {@code match} on any pair; frames
     * that do not match are thrown away and their buffers reposted.
     */
    Received receive(long timeoutMs, int bufSize, Predicate<byte[]> match) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (System.nanoTime() < deadline) {
            for (int p = 0; p < pairs; p++) {
                SplitRingDriver drv = drivers[2 * p];
                if (!queues.get(2 * p).isActivated()) continue;
                SplitRingDriver.Used u = drv.waitUsed(0);
                if (u == null) continue;
                Received r = assemble(p, u);
                postRx(p, r.numBuffers(), bufSize);
                if (match.test(r.frame())) return r;
            }
            Thread.sleep(1);
        }
        return null;
    }

    private Received assemble(int p, SplitRingDriver.Used first) throws InterruptedException {
        Map<Integer, Long> addrs = rxAddr.get(2 * p);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        usedHeads.get(p).add(first.id());
        long a = addrs.remove(first.id());
        byte[] b = new byte[first.len()];
        mem.read(a, b, 0, b.length);
        out.write(b, 0, b.length);
        int num = (b[10] & 0xFF) | (b[11] & 0xFF) << 8;
        for (int i = 1; i < num; i++) {
            SplitRingDriver.Used u = drivers[2 * p].waitUsed(2000);
            if (u == null) throw new AssertionError("num_buffers " + num + " but only " + i + " used buffers");
            usedHeads.get(p).add(u.id());
            long ua = addrs.remove(u.id());
            byte[] c = new byte[u.len()];
            mem.read(ua, c, 0, c.length);
            out.write(c, 0, c.length);
        }
        byte[] all = out.toByteArray();
        byte[] hdr = java.util.Arrays.copyOf(all, VirtioNet.HDR_SIZE);
        byte[] frame = java.util.Arrays.copyOfRange(all, VirtioNet.HDR_SIZE, all.length);
        return new Received(p, hdr, frame, num);
    }

    @Override
    public void close() {
        dev.close();
        threads.forEach(IoThread::close);
        arena.close();
    }
}
