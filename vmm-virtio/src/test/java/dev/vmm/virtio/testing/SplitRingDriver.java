package dev.vmm.virtio.testing;


import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.invoke.VarHandle;

/**
 * A minimal guest-side split-queue driver for device tests (blk, net, ...): one queue in guest memory, chains written
 * the way a driver writes them, used ring polled. Descriptors are handed out
 * round-robin, so at most {@code size} descriptors may be in flight.
 */
public final class SplitRingDriver {
    public static final int NEXT = 1, WRITE = 2, INDIRECT = 4;

    public record Buf(long addr, int len, boolean writable) { }

    public record Used(int id, int len) { }

    public final GuestMemory mem;
    public final int size;
    public final long desc, avail, used;
    private int nextDesc;
    private int availIdx;
    private int lastUsed;

    /** Rings at {@code ringBase} (needs 16·size + 6 + 2·size + 6 + 8·size bytes, 4 KiB-aligned). */
    public SplitRingDriver(GuestMemory mem, int size, long ringBase) {
        this.mem = mem;
        this.size = size;
        this.desc = ringBase;
        this.avail = ringBase + 16L * size;
        this.used = (avail + 6 + 2L * size + 4095) & ~4095L;
        mem.write(desc, new byte[16 * size]);
        mem.write(avail, new byte[6 + 2 * size]);
        mem.write(used, new byte[6 + 8 * size]);
    }

    public SplitQueue queue(boolean eventIdx) {
        SplitQueue q = new SplitQueue(size);
        q.setSize(size);
        q.setRings(desc, avail, used);
        q.setEventIdx(eventIdx);
        q.setReady(true);
        return q;
    }

    /** Writes a direct chain and publishes it; returns its head. */
    public int add(Buf... bufs) {
        int head = nextDesc;
        for (int i = 0; i < bufs.length; i++) {
            int id = (head + i) % size;
            boolean last = i == bufs.length - 1;
            writeDesc(desc + 16L * id, bufs[i], last ? 0 : NEXT, (id + 1) % size);
        }
        nextDesc = (head + bufs.length) % size;
        publish(head);
        return head;
    }

    /** One INDIRECT descriptor pointing at a table at {@code table}; returns its head. */
    public int addIndirect(long table, Buf... bufs) {
        for (int i = 0; i < bufs.length; i++) {
            boolean last = i == bufs.length - 1;
            writeDesc(table + 16L * i, bufs[i], last ? 0 : NEXT, i + 1);
        }
        int head = nextDesc;
        mem.writeU64(desc + 16L * head, table);
        mem.writeU32(desc + 16L * head + 8, 16 * bufs.length);
        mem.writeU16(desc + 16L * head + 12, (short) INDIRECT);
        mem.writeU16(desc + 16L * head + 14, (short) 0);
        nextDesc = (head + 1) % size;
        publish(head);
        return head;
    }

    private void writeDesc(long at, Buf b, int flags, int next) {
        mem.writeU64(at, b.addr());
        mem.writeU32(at + 8, b.len());
        mem.writeU16(at + 12, (short) (flags | (b.writable() ? WRITE : 0)));
        mem.writeU16(at + 14, (short) next);
    }

    private void publish(int head) {
        mem.writeU16(avail + 4 + 2L * (availIdx % size), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        VarHandle.fullFence();
        mem.writeU16(avail + 2, (short) availIdx);
        VarHandle.fullFence();
    }

    /** The next used element, waiting up to {@code timeoutMs}; null on timeout. */
    public Used waitUsed(long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (true) {
            VarHandle.fullFence();
            int idx = Short.toUnsignedInt(mem.readU16(used + 2));
            if (idx != lastUsed) {
                VarHandle.acquireFence();
                long at = used + 4 + 8L * (lastUsed % size);
                Used u = new Used(mem.readU32(at), mem.readU32(at + 4));
                lastUsed = (lastUsed + 1) & 0xFFFF;
                return u;
            }
            if (System.nanoTime() > deadline) return null;
            Thread.sleep(0, 200_000);
        }
    }

    public int pendingUsed() {
        return (Short.toUnsignedInt(mem.readU16(used + 2)) - lastUsed) & 0xFFFF;
    }
}
