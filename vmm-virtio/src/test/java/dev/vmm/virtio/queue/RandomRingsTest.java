package dev.vmm.virtio.queue;


import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestMemoryException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Randomised rings, garbage included: every pop must either return a chain whose buffers all lie
 * in RAM and agree with an independent, naive reading of the spec ({@link #reference}), or throw
 * the QueueException that reference predicts — never anything else, never a write outside RAM.
 *
 * <p>Seeded and deterministic; a failure names its seed. (Plain JUnit: the project uses no
 * property-testing library, see docs/virtqueue.md.)
 */
class RandomRingsTest {
    static final long A = 0x10000, A_SIZE = 0x10000;   // region 0: rings, tables, data
    static final long B = 0x30000, B_SIZE = 0x8000;    // region 1, after a hole
    static final long DESC = 0x10000, AVAIL = 0x10400, USED = 0x10600, TABLES = 0x11000, TABLES_SIZE = 0x1000;
    static final int CASES = 2500;
    /** Per-field probability of garbage; 1.0 is pure noise. */
    static final double[] NOISE = {0.0, 0.01, 0.03, 0.1, 0.3, 1.0};

    record Expected(QueueError error, List<long[]> buffers, int readable) { }

    @Test
    void randomRingsGiveValidChainsOrTypedErrors() {
        long base = 0x5EED_0000L;
        Map<QueueError, Integer> seen = new EnumMap<>(QueueError.class);
        int chains = 0;
        try (FakeGuestMemory fake = new FakeGuestMemory(A, A_SIZE, B, B_SIZE)) {
            for (int c = 0; c < CASES; c++) {
                long seed = base + c;
                try {
                    chains += runCase(fake.memory, new Random(seed), seen);
                } catch (Throwable t) {
                    throw new AssertionError("case with seed 0x" + Long.toHexString(seed) + " failed: " + t, t);
                }
                if (!fake.guardsIntact()) throw new AssertionError("write outside RAM with seed 0x" + Long.toHexString(seed));
            }
        }
        // The generator must reach both outcomes and a wide range of errors, or it tests little.
        assertThat(chains).isGreaterThan(CASES);
        assertThat(seen.keySet()).contains(QueueError.HEAD_OUT_OF_RANGE, QueueError.NEXT_OUT_OF_RANGE,
                QueueError.CHAIN_TOO_LONG, QueueError.BUFFER_OUTSIDE_RAM, QueueError.READABLE_AFTER_WRITABLE,
                QueueError.NESTED_INDIRECT, QueueError.INDIRECT_WITH_NEXT, QueueError.INDIRECT_TABLE_LENGTH,
                QueueError.INDIRECT_TABLE_OUTSIDE_RAM, QueueError.AVAIL_INDEX_JUMP);
    }

    private int runCase(GuestMemory mem, Random rnd, Map<QueueError, Integer> seen) throws QueueException {
        int size = 1 << rnd.nextInt(7); // 1..64
        mem.write(A, new byte[(int) A_SIZE]);
        double noise = NOISE[rnd.nextInt(NOISE.length)];
        for (int i = 0; i < size; i++) writeDesc(mem, DESC + 16L * i, randomDesc(rnd, i, size, true, noise));
        for (int i = 0; i < TABLES_SIZE / 16; i++) writeDesc(mem, TABLES + 16L * i, randomDesc(rnd, i, 4, false, noise));
        int availIdx = rnd.nextDouble() < noise / 3 ? rnd.nextInt(0x10000) : rnd.nextInt(size + 1);
        for (int i = 0; i < size; i++) {
            int head = rnd.nextDouble() < noise ? rnd.nextInt(0x10000) : rnd.nextInt(size);
            mem.writeU16(AVAIL + 4 + 2L * i, (short) head);
        }
        int start = rnd.nextInt(4) == 0 ? 0xFFFF - rnd.nextInt(4) : 0;
        mem.writeU16(AVAIL + 2, (short) (start + availIdx));

        SplitQueue q = new SplitQueue(64);
        q.setSize(size);
        q.setRings(DESC, AVAIL, USED);
        q.setEventIdx(rnd.nextBoolean());
        q.setNextAvail(start);
        q.setNextUsed(start);
        q.activate(mem);

        DescriptorChain chain = new DescriptorChain(1);
        int pending = (availIdx & 0xFFFF) > size ? -1 : availIdx;
        int popped = 0;
        for (int n = 0; n < size + 1; n++) {
            Expected want = pending < 0 ? new Expected(QueueError.AVAIL_INDEX_JUMP, null, 0)
                    : n >= pending ? null
                    : reference(mem, size, Short.toUnsignedInt(mem.readU16(AVAIL + 4 + 2L * ((start + n) % size))));
            boolean got;
            try {
                got = q.pop(chain);
            } catch (QueueException e) {
                assertThat(want).as("unexpected " + e).isNotNull();
                assertThat(e.error()).as(e.getMessage()).isEqualTo(want.error());
                assertThat(e.getMessage()).isNotBlank().doesNotContain("\n");
                seen.merge(e.error(), 1, Integer::sum);
                return popped;
            }
            if (want == null) {
                assertThat(got).isFalse();
                return popped;
            }
            assertThat(want.error()).as("expected an error").isNull();
            assertThat(got).isTrue();
            popped++;
            assertThat(chain.head()).isLessThan(size);
            assertThat(chain.count()).isEqualTo(want.buffers().size());
            assertThat(chain.readableCount()).isEqualTo(want.readable());
            for (int i = 0; i < chain.count(); i++) {
                assertThat(mem.isValid(chain.address(i), chain.length(i))).isTrue();
                assertThat(chain.address(i)).isEqualTo(want.buffers().get(i)[0]);
                assertThat(chain.length(i)).isEqualTo(want.buffers().get(i)[1]);
                assertThat(chain.segment(i).byteSize()).isEqualTo(chain.length(i));
            }
            q.addUsed(chain.head(), rnd.nextInt());
            q.needsNotification();
        }
        return popped;
    }

    /** A deliberately naive walk of one chain through GuestMemory's checked accessors. */
    static Expected reference(GuestMemory mem, int size, int head) {
        if (head >= size) return error(QueueError.HEAD_OUT_OF_RANGE);
        List<long[]> bufs = new ArrayList<>();
        int[] readable = {0};
        boolean[] sawWritable = {false};
        int index = head;
        for (int steps = 0; ; steps++) {
            if (steps >= size) return error(QueueError.CHAIN_TOO_LONG);
            long d = DESC + 16L * index;
            long addr = mem.readU64(d);
            long len = Integer.toUnsignedLong(mem.readU32(d + 8));
            int flags = Short.toUnsignedInt(mem.readU16(d + 12));
            int next = Short.toUnsignedInt(mem.readU16(d + 14));
            if ((flags & 4) != 0) {
                if ((flags & 1) != 0) return error(QueueError.INDIRECT_WITH_NEXT);
                if (len == 0 || len % 16 != 0 || len / 16 > SplitQueue.MAX_INDIRECT_DESCRIPTORS) {
                    return error(QueueError.INDIRECT_TABLE_LENGTH);
                }
                if (!mem.isValid(addr, len)) return error(QueueError.INDIRECT_TABLE_OUTSIDE_RAM);
                return indirect(mem, addr, (int) (len / 16), bufs, readable, sawWritable);
            }
            QueueError e = addBuffer(mem, addr, len, flags, bufs, readable, sawWritable);
            if (e != null) return error(e);
            if ((flags & 1) == 0) return new Expected(null, bufs, readable[0]);
            if (next >= size) return error(QueueError.NEXT_OUT_OF_RANGE);
            index = next;
        }
    }

    private static Expected indirect(GuestMemory mem, long table, int entries, List<long[]> bufs, int[] readable, boolean[] sawWritable) {
        int index = 0;
        for (int steps = 0; ; steps++) {
            if (steps >= entries) return error(QueueError.CHAIN_TOO_LONG);
            long d = table + 16L * index;
            long addr;
            long len;
            int flags;
            int next;
            try {
                addr = mem.readU64(d);
                len = Integer.toUnsignedLong(mem.readU32(d + 8));
                flags = Short.toUnsignedInt(mem.readU16(d + 12));
                next = Short.toUnsignedInt(mem.readU16(d + 14));
            } catch (GuestMemoryException e) {
                throw new AssertionError("reference read outside the checked table", e);
            }
            if ((flags & 4) != 0) return error(QueueError.NESTED_INDIRECT);
            QueueError e = addBuffer(mem, addr, len, flags, bufs, readable, sawWritable);
            if (e != null) return error(e);
            if ((flags & 1) == 0) return new Expected(null, bufs, readable[0]);
            if (next >= entries) return error(QueueError.NEXT_OUT_OF_RANGE);
            index = next;
        }
    }

    private static QueueError addBuffer(GuestMemory mem, long addr, long len, int flags, List<long[]> bufs, int[] readable, boolean[] sawWritable) {
        try {
            mem.slice(addr, len);
        } catch (GuestMemoryException e) {
            return QueueError.BUFFER_OUTSIDE_RAM;
        }
        boolean writable = (flags & 2) != 0;
        if (!writable && sawWritable[0]) return QueueError.READABLE_AFTER_WRITABLE;
        if (writable) sawWritable[0] = true;
        else readable[0]++;
        bufs.add(new long[] {addr, len});
        return null;
    }

    private static Expected error(QueueError e) {
        return new Expected(e, null, 0);
    }

    // ---- generator ----

    /**
     * A descriptor that would be well formed in a table laid out as chains of four (readable,
     * readable, writable, writable; next = index + 1; the main table sometimes ending a chain with
     * an indirect descriptor to a four-entry table), each field replaced by garbage with
     * probability {@code noise}.
     */
    private static long[] randomDesc(Random rnd, int index, int tableSize, boolean mainTable, double noise) {
        int pos = index % 4;
        boolean last = pos == 3 || index == tableSize - 1;
        int flags = (last ? 0 : 1) | (pos >= 2 ? 2 : 0);
        long addr = rnd.nextBoolean() ? 0x12000 + rnd.nextInt(0xD000) : B + rnd.nextInt((int) B_SIZE - 512);
        long len = 1 + rnd.nextInt(512);
        int next = mainTable ? index + 1 : pos + 1;
        if (mainTable && rnd.nextInt(6) == 0) {
            flags = 4;
            addr = TABLES + 64L * rnd.nextInt((int) (TABLES_SIZE / 64));
            len = 64;
        }
        if (rnd.nextDouble() < noise) flags = rnd.nextInt(4) == 0 ? rnd.nextInt(0x10000) : rnd.nextInt(8);
        if (rnd.nextDouble() < noise) addr = randomAddress(rnd);
        if (rnd.nextDouble() < noise) len = switch (rnd.nextInt(5)) {
            case 0 -> 0;
            case 1 -> rnd.nextInt() & 0xFFFF_FFFFL;
            case 2 -> rnd.nextInt(0x10000);
            case 3 -> 16L * rnd.nextInt(8);
            default -> rnd.nextInt(100);
        };
        if (rnd.nextDouble() < noise) next = rnd.nextInt(4) == 0 ? rnd.nextInt(0x10000) : rnd.nextInt(tableSize + 2);
        return new long[] {addr, len, flags, next};
    }

    private static long randomAddress(Random rnd) {
        return switch (rnd.nextInt(8)) {
            case 0 -> rnd.nextLong();
            case 1 -> A + A_SIZE - rnd.nextInt(600);      // near the end of region 0 / the hole
            case 2 -> B + B_SIZE - rnd.nextInt(600);      // near the end of RAM
            case 3 -> B + rnd.nextInt((int) B_SIZE);
            case 4 -> rnd.nextInt(0x50000);               // anywhere, holes included
            default -> 0x12000 + rnd.nextInt(0xD000);
        };
    }

    private static void writeDesc(GuestMemory mem, long at, long[] d) {
        mem.writeU64(at, d[0]);
        mem.writeU32(at + 8, (int) d[1]);
        mem.writeU16(at + 12, (short) d[2]);
        mem.writeU16(at + 14, (short) d[3]);
    }
}
