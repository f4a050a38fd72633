package dev.vmm.bench.xbzrle;

import dev.vmm.bench.xbzrle.XbzrleWorkload.PagePair;
import dev.vmm.bench.xbzrle.XbzrleWorkload.Scenario;
import dev.vmm.migration.xbzrle.Xbzrle;
import dev.vmm.migration.xbzrle.XbzrleFormatException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * XBZRLE encode/decode time per 4 KiB page over {@value XbzrleWorkload#PAGES} page pairs, on
 * off-heap segments as in migration (guest RAM and the page cache are both off-heap). Encode uses
 * the migration limit (page size - 1), so HALF_BYTES and ALL measure the time to detect overflow;
 * decode applies deltas made with room to spare. {@link XbzrleVsC} runs this together with the C
 * reference on the same inputs.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class XbzrleBenchmark {
    private static final int PAGE = XbzrleWorkload.PAGE_SIZE;
    private static final int PAGES = XbzrleWorkload.PAGES;
    private static final int ROOM = 2 * PAGE + 16;

    @Param({"FEW", "HALF_LINES", "HALF_BYTES", "ALL"})
    public Scenario scenario;

    private Arena arena;
    private MemorySegment oldPages;
    private MemorySegment newPages;
    private MemorySegment decodePages;
    private MemorySegment deltas;
    private int[] deltaLengths;
    private MemorySegment dst;

    @Setup
    public void setUp() {
        List<PagePair> pairs = XbzrleWorkload.generate(scenario);
        arena = Arena.ofConfined();
        oldPages = arena.allocate((long) PAGES * PAGE, PAGE);
        newPages = arena.allocate((long) PAGES * PAGE, PAGE);
        decodePages = arena.allocate((long) PAGES * PAGE, PAGE);
        deltas = arena.allocate((long) PAGES * ROOM, 64);
        deltaLengths = new int[PAGES];
        dst = arena.allocate(ROOM, 64);
        for (int p = 0; p < PAGES; p++) {
            MemorySegment.copy(MemorySegment.ofArray(pairs.get(p).oldPage()), 0, oldPages, (long) p * PAGE, PAGE);
            MemorySegment.copy(MemorySegment.ofArray(pairs.get(p).newPage()), 0, newPages, (long) p * PAGE, PAGE);
            deltaLengths[p] = Xbzrle.encode(oldPages, (long) p * PAGE, newPages, (long) p * PAGE, PAGE,
                    deltas, (long) p * ROOM, ROOM);
        }
        MemorySegment.copy(oldPages, 0, decodePages, 0, (long) PAGES * PAGE);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    @OperationsPerInvocation(PAGES)
    public long encode() {
        long sum = 0;
        for (int p = 0; p < PAGES; p++) {
            sum += Xbzrle.encode(oldPages, (long) p * PAGE, newPages, (long) p * PAGE, PAGE, dst, 0, PAGE - 1);
        }
        return sum;
    }

    /** Re-applying a delta is idempotent, so every invocation does the same work. */
    @Benchmark
    @OperationsPerInvocation(PAGES)
    public MemorySegment decode() throws XbzrleFormatException {
        for (int p = 0; p < PAGES; p++) {
            Xbzrle.decode(deltas, (long) p * ROOM, deltaLengths[p], decodePages, (long) p * PAGE, PAGE);
        }
        return decodePages;
    }
}
