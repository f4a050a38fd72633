package dev.vmm.virtio.queue;


import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * Jazzer target for the split virtqueue over a fuzzed guest memory: descriptor table, indirect
 * tables, available ring (flags, idx, ring, used_event) written by a hostile driver, sometimes
 * misplaced rings, with and without EVENT_IDX, and an interleaving of pop / addUsed /
 * notification calls with the driver rewriting the rings between them. Every pop must give a chain
 * whose buffers all lie in RAM (readable before writable) or throw a {@link QueueException}, after
 * which the queue stays broken; nothing else may be thrown, and no byte outside RAM may change
 * (guard pages around both regions). Without JAZZER_FUZZ the seeds replay (CI).
 */
class VirtqueueFuzzTest {
    static final long A = 0x10000, A_SIZE = 0x10000, B = 0x30000, B_SIZE = 0x8000;
    static final long DESC = 0x10000, AVAIL = 0x10400, USED = 0x10600, TABLES = 0x11000;

    @FuzzTest(maxDuration = "60s")
    void chains(FuzzedDataProvider data) {
        try (FakeGuestMemory fake = new FakeGuestMemory(A, A_SIZE, B, B_SIZE)) {
            run(fake.memory, data);
            if (!fake.guardsIntact()) throw new AssertionError("a byte outside guest RAM changed");
        }
    }

    private static void run(GuestMemory mem, FuzzedDataProvider data) {
        int size = 1 << data.consumeInt(0, 6);
        SplitQueue q = new SplitQueue(64);
        q.setSize(data.consumeInt(0, 15) == 0 ? data.consumeInt(0, 70000) : size);
        boolean misplace = data.consumeInt(0, 15) == 0;
        q.setRings(misplace ? data.consumeLong() : DESC, misplace ? data.consumeLong(0, 0x40000) : AVAIL, misplace ? data.consumeLong(0, 0x40000) : USED);
        q.setEventIdx(data.consumeBoolean());
        q.setReady(true);
        for (int i = 0; i < size; i++) descriptor(mem, DESC + 16L * i, size, data);
        for (int i = 0; i < 64 && data.remainingBytes() > 0 && data.consumeBoolean(); i++) descriptor(mem, TABLES + 16L * i, 64, data);
        mem.writeU16(AVAIL, (short) data.consumeInt(0, 1));
        for (int i = 0; i < size; i++) mem.writeU16(AVAIL + 4 + 2L * i, (short) (data.consumeBoolean() ? data.consumeInt(0, size) : data.consumeInt()));
        mem.writeU16(AVAIL + 4 + 2L * size, (short) data.consumeInt(0, 0xFFFF)); // used_event
        mem.writeU16(AVAIL + 2, (short) (data.consumeBoolean() ? data.consumeInt(0, size + 1) : data.consumeInt()));
        try {
            q.activate(mem);
        } catch (QueueException refused) {
            return; // a misplaced or mis-sized ring: refused at activation, as it must be
        }
        ArrayDeque<Integer> popped = new ArrayDeque<>();
        DescriptorChain chain = new DescriptorChain();
        String broken = null;
        for (int op = 0; op < 32 && data.remainingBytes() > 0; op++) {
            try {
                switch (data.consumeInt(0, 6)) {
                    case 0, 1 -> {
                        if (q.pop(chain)) {
                            if (broken != null) throw new AssertionError("pop succeeded on a broken queue (" + broken + ")");
                            check(chain);
                            popped.add(chain.head());
                        }
                    }
                    case 2 -> {
                        if (!popped.isEmpty()) q.addUsed(popped.poll(), data.consumeInt(0, 0x10000));
                    }
                    case 3 -> q.needsNotification();
                    case 4 -> q.disableNotification();
                    case 5 -> q.enableNotification();
                    default -> {
                        // The driver moves on: a new avail idx, ring entry, flags or used_event.
                        long at = AVAIL + 2L * data.consumeInt(0, size + 2);
                        mem.writeU16(at, (short) data.consumeInt(0, 0xFFFF));
                        if (data.consumeBoolean()) descriptor(mem, DESC + 16L * data.consumeInt(0, size - 1), size, data);
                    }
                }
            } catch (QueueException e) {
                broken = e.getMessage();
                popped.clear(); // a broken queue takes no used buffers: the device resets it
                if (q.brokenReason() == null) throw new AssertionError("QueueException without a broken queue: " + e.getMessage());
            }
        }
    }

    /** One descriptor; addresses and lengths mostly near RAM so that chains get walked. */
    private static void descriptor(GuestMemory mem, long at, int size, FuzzedDataProvider data) {
        long addr = data.consumeBoolean() ? data.consumeLong(0, 0x40000) : data.consumeLong();
        int len = data.consumeBoolean() ? data.consumeInt(0, 0x1100) : data.consumeInt();
        int flags = data.consumeBoolean() ? data.consumeInt(0, 7) : data.consumeInt(0, 0xFFFF);
        if ((flags & SplitQueue.VIRTQ_DESC_F_INDIRECT) != 0 && data.consumeBoolean()) {
            addr = TABLES;
            len = 16 * data.consumeInt(0, 64);
        }
        int next = data.consumeBoolean() ? data.consumeInt(0, size) : data.consumeInt(0, 0xFFFF);
        mem.writeU64(at, addr);
        mem.writeU32(at + 8, len);
        mem.writeU16(at + 12, (short) flags);
        mem.writeU16(at + 14, (short) next);
    }

    /** A popped chain: every buffer a slice of RAM, readable ones first, totals consistent. */
    private static void check(DescriptorChain c) {
        long readable = 0, writable = 0;
        for (int i = 0; i < c.count(); i++) {
            MemorySegment s = c.segment(i);
            if (s.byteSize() != c.length(i)) throw new AssertionError("buffer " + i + " is not its descriptor's length");
            if (c.isWritable(i) != (i >= c.readableCount())) throw new AssertionError("readable after writable in " + c);
            if (c.isWritable(i)) writable += c.length(i);
            else readable += c.length(i);
        }
        if (readable != c.readableBytes() || writable != c.writableBytes()) throw new AssertionError("byte totals wrong in " + c);
        byte[] buf = new byte[(int) Math.min(readable, 1 << 16)];
        c.readFromChain(0, buf);
        c.writeToChain(0, new byte[(int) Math.min(writable, 1 << 16)]);
    }
}
