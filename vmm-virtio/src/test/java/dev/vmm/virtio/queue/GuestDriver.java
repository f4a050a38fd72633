package dev.vmm.virtio.queue;


import dev.vmm.memory.GuestMemory;

import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The driver side of a split virtqueue, written from the spec the way a guest driver fills rings:
 * allocates descriptors from a free list, writes chains (direct, indirect, or direct followed by
 * one indirect descriptor), publishes heads in the available ring, reads used elements back.
 * Also offers raw writes for building malformed rings.
 */
final class GuestDriver {
    static final int NEXT = 1;
    static final int WRITE = 2;
    static final int INDIRECT = 4;

    record Buf(long addr, int len, boolean writable) {
        static Buf r(long addr, int len) { return new Buf(addr, len, false); }

        static Buf w(long addr, int len) { return new Buf(addr, len, true); }
    }

    record Used(int id, int len) { }

    final GuestMemory mem;
    final int size;
    final long desc;
    final long avail;
    final long used;
    private final Deque<Integer> free = new ArrayDeque<>();
    private final Map<Integer, List<Integer>> inUse = new HashMap<>();
    int availIdx;
    int lastUsed;

    GuestDriver(GuestMemory mem, int size, long desc, long avail, long used) {
        this.mem = mem;
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        for (int i = 0; i < size; i++) free.add(i);
        // A driver zeroes the rings when it allocates them.
        mem.write(desc, new byte[16 * size]);
        mem.write(avail, new byte[6 + 2 * size]);
        mem.write(used, new byte[6 + 8 * size]);
    }

    /** A queue configured the way a transport would after this driver's register writes. */
    SplitQueue configure(SplitQueue q, boolean eventIdx) {
        q.setSize(size);
        q.setRings(desc, avail, used);
        q.setEventIdx(eventIdx);
        q.setReady(true);
        return q;
    }

    /** Starts both rings at {@code idx} (as after a restore); the queue must get the same via setNextAvail/Used. */
    void startAt(int idx) {
        availIdx = idx & 0xFFFF;
        lastUsed = idx & 0xFFFF;
        mem.writeU16(avail + 2, (short) availIdx);
        mem.writeU16(used + 2, (short) lastUsed);
    }

    int freeCount() { return free.size(); }

    /** Writes a direct chain and makes it available; returns its head. */
    int add(Buf... bufs) {
        List<Integer> ids = take(bufs.length);
        for (int i = 0; i < bufs.length; i++) {
            boolean last = i == bufs.length - 1;
            writeDesc(ids.get(i), bufs[i].addr, bufs[i].len,
                    (bufs[i].writable ? WRITE : 0) | (last ? 0 : NEXT), last ? 0 : ids.get(i + 1));
        }
        return publishChain(ids);
    }

    /** Writes {@code bufs} as an indirect table at {@code table} behind one descriptor; returns its head. */
    int addIndirect(long table, Buf... bufs) {
        return addMixed(new Buf[0], table, bufs);
    }

    /** Zero or more direct descriptors followed by one INDIRECT descriptor (virtio 1.x §2.7.5.3.2). */
    int addMixed(Buf[] direct, long table, Buf[] indirect) {
        writeTable(table, indirect);
        List<Integer> ids = take(direct.length + 1);
        for (int i = 0; i < direct.length; i++) {
            writeDesc(ids.get(i), direct[i].addr, direct[i].len, (direct[i].writable ? WRITE : 0) | NEXT, ids.get(i + 1));
        }
        writeDesc(ids.get(direct.length), table, 16 * indirect.length, INDIRECT, 0);
        return publishChain(ids);
    }

    /** Writes an indirect table whose entries chain 0 → 1 → ... in order. */
    void writeTable(long table, Buf... bufs) {
        for (int i = 0; i < bufs.length; i++) {
            boolean last = i == bufs.length - 1;
            writeRawDesc(table + 16L * i, bufs[i].addr, bufs[i].len,
                    (bufs[i].writable ? WRITE : 0) | (last ? 0 : NEXT), last ? 0 : i + 1);
        }
    }

    void writeDesc(int index, long addr, int len, int flags, int next) {
        writeRawDesc(desc + 16L * index, addr, len, flags, next);
    }

    void writeRawDesc(long at, long addr, int len, int flags, int next) {
        mem.writeU64(at, addr);
        mem.writeU32(at + 8, len);
        mem.writeU16(at + 12, (short) flags);
        mem.writeU16(at + 14, (short) next);
    }

    /** Puts {@code head} in the next available slot and bumps avail idx (no descriptor bookkeeping). */
    void publish(int head) {
        mem.writeU16(avail + 4 + 2L * (availIdx % size), (short) head);
        availIdx = (availIdx + 1) & 0xFFFF;
        VarHandle.releaseFence(); // descriptors and ring entry before the idx that publishes them
        mem.writeU16(avail + 2, (short) availIdx);
    }

    void setAvailIdx(int idx) {
        availIdx = idx & 0xFFFF;
        mem.writeU16(avail + 2, (short) availIdx);
    }

    void setAvailFlags(int flags) { mem.writeU16(avail, (short) flags); }

    void setUsedEvent(int idx) { mem.writeU16(avail + 4 + 2L * size, (short) idx); }

    int usedFlags() { return Short.toUnsignedInt(mem.readU16(used)); }

    int usedIdx() { return Short.toUnsignedInt(mem.readU16(used + 2)); }

    int availEvent() { return Short.toUnsignedInt(mem.readU16(used + 4 + 8L * size)); }

    /** Whether the driver must kick after moving avail idx from {@code old} to {@code now}. */
    boolean kickNeeded(boolean eventIdx, int old, int now) {
        if (eventIdx) return SplitQueue.needEvent(availEvent(), now, old);
        return (usedFlags() & 1) == 0;
    }

    /** The next used element, or null; frees its descriptors. */
    Used pollUsed() {
        if (usedIdx() == lastUsed) return null;
        long at = used + 4 + 8L * (lastUsed % size);
        Used u = new Used(mem.readU32(at), mem.readU32(at + 4));
        lastUsed = (lastUsed + 1) & 0xFFFF;
        List<Integer> ids = inUse.remove(u.id());
        if (ids != null) free.addAll(ids);
        return u;
    }

    private List<Integer> take(int n) {
        if (free.size() < n) throw new IllegalStateException("driver out of descriptors");
        List<Integer> ids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) ids.add(free.poll());
        return ids;
    }

    private int publishChain(List<Integer> ids) {
        inUse.put(ids.get(0), ids);
        publish(ids.get(0));
        return ids.get(0);
    }
}
