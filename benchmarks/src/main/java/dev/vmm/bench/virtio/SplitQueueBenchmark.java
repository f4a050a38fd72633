package dev.vmm.bench.virtio;


import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Device-side cost of one request on a split virtqueue: pop a chain (1 or 3 buffers, direct or
 * through an indirect table), return it with addUsed, optionally decide about the interrupt.
 * The driver side is reduced to bumping avail->idx over a pre-filled ring, so what is measured is
 * the queue code: ring reads, descriptor walk and validation, used-ring writes, fences.
 *
 * <p>Run: {@code java -jar benchmarks/target/benchmarks.jar SplitQueueBenchmark} (or via the JMH
 * runner on the benchmarks classpath).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SplitQueueBenchmark {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long RAM = 0x10_0000;
    private static final long RAM_SIZE = 16 << 20;
    private static final int SIZE = 256;
    private static final long DESC = RAM;
    private static final long AVAIL = RAM + 0x1000;
    private static final long USED = RAM + 0x2000;
    private static final long TABLES = RAM + 0x10000;
    private static final long DATA = RAM + 0x100000;

    @Param({"1", "3"})
    public int descriptors;

    @Param({"false", "true"})
    public boolean indirect;

    @Param({"false", "true"})
    public boolean eventIdx;

    private Arena arena;
    private MemorySegment ram;
    private SplitQueue queue;
    private final DescriptorChain chain = new DescriptorChain();
    private int availIdx;

    @Setup(Level.Trial)
    public void setUp() throws QueueException {
        arena = Arena.ofShared();
        ram = arena.allocate(RAM_SIZE, 4096);
        GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, RAM, ram)));
        // Chains as a driver would lay them out: direct chains use consecutive descriptors,
        // indirect ones one descriptor each pointing at its own table.
        int stride = indirect ? 1 : descriptors;
        int chains = SIZE / stride;
        for (int c = 0; c < chains; c++) {
            long data = DATA + 0x1000L * c;
            if (indirect) {
                long table = TABLES + 16L * descriptors * c;
                writeChain(table, 0, data, true);
                writeDesc(DESC + 16L * c, table, 16 * descriptors, 4, 0);
            } else {
                writeChain(DESC, c * stride, data, false);
            }
        }
        for (int slot = 0; slot < SIZE; slot++) {
            ram.set(U16, AVAIL - RAM + 4 + 2L * slot, (short) ((slot % chains) * stride));
        }
        queue = new SplitQueue(SIZE);
        queue.setRings(DESC, AVAIL, USED);
        queue.setEventIdx(eventIdx);
        queue.setReady(true);
        queue.activate(memory);
    }

    /** A chain of {@code descriptors}: the last one device-writable, like a block request's status. */
    private void writeChain(long table, int first, long data, boolean tableRelative) {
        for (int i = 0; i < descriptors; i++) {
            boolean last = i == descriptors - 1;
            int index = first + i;
            int next = tableRelative ? i + 1 : index + 1;
            writeDesc(table + 16L * index, data + 512L * i, last && descriptors > 1 ? 1 : 512,
                    (last ? 0 : 1) | (last ? 2 : 0), last ? 0 : next);
        }
    }

    private void writeDesc(long gpa, long addr, int len, int flags, int next) {
        long o = gpa - RAM;
        ram.set(U64, o, addr);
        ram.set(U32, o + 8, len);
        ram.set(U16, o + 12, (short) flags);
        ram.set(U16, o + 14, (short) next);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** The driver's half: one more available entry (ring entries were pre-filled). */
    private void offerOne() {
        availIdx = (availIdx + 1) & 0xFFFF;
        ram.set(U16, AVAIL - RAM + 2, (short) availIdx);
    }

    /** One request through the queue: offered by the driver, popped, completed. */
    private void popAddUsedOnce() throws QueueException {
        offerOne();
        if (!queue.pop(chain)) throw new IllegalStateException("nothing to pop");
        queue.addUsed(chain.head(), 1);
    }

    @Benchmark
    public int popAddUsed() throws QueueException {
        popAddUsedOnce();
        return chain.count();
    }

    @Benchmark
    public boolean popAddUsedNotify() throws QueueException {
        popAddUsedOnce();
        return queue.needsNotification();
    }
}
