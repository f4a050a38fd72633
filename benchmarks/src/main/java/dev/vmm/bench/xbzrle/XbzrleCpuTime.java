package dev.vmm.bench.xbzrle;

import dev.vmm.bench.xbzrle.XbzrleWorkload.PagePair;
import dev.vmm.bench.xbzrle.XbzrleWorkload.Scenario;
import dev.vmm.migration.xbzrle.Xbzrle;
import dev.vmm.migration.xbzrle.XbzrleFormatException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.List;

/**
 * The Java side of the CPU-time comparison: the same loops as {@link XbzrleBenchmark} and the C
 * driver, timed by thread CPU time, best of 100 ms samples. Wall-clock averages (JMH) swing with
 * whatever else runs on the machine; the best CPU-time sample does much less. {@link XbzrleVsC}
 * runs it in a fresh JVM per scenario (as JMH forks) so one scenario's JIT profile does not
 * shape another's code.
 *
 * <p>Prints {@code encode_cpu_best_ns_per_page X} and {@code decode_cpu_best_ns_per_page Y}.
 */
public final class XbzrleCpuTime {
    private static final int PAGE = XbzrleWorkload.PAGE_SIZE;
    private static final int ROOM = 2 * PAGE + 16;
    private static final long SAMPLE_NS = 100_000_000;

    private XbzrleCpuTime() {}

    public static void main(String[] args) throws XbzrleFormatException {
        Scenario scenario = Scenario.valueOf(args[0]);
        int samples = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        List<PagePair> pairs = XbzrleWorkload.generate(scenario);
        int pages = pairs.size();
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment olds = arena.allocate((long) pages * PAGE, PAGE);
            MemorySegment news = arena.allocate((long) pages * PAGE, PAGE);
            MemorySegment decoded = arena.allocate((long) pages * PAGE, PAGE);
            MemorySegment deltas = arena.allocate((long) pages * ROOM, 64);
            MemorySegment dst = arena.allocate(ROOM, 64);
            int[] lengths = new int[pages];
            for (int p = 0; p < pages; p++) {
                MemorySegment.copy(MemorySegment.ofArray(pairs.get(p).oldPage()), 0, olds, (long) p * PAGE, PAGE);
                MemorySegment.copy(MemorySegment.ofArray(pairs.get(p).newPage()), 0, news, (long) p * PAGE, PAGE);
                lengths[p] = Xbzrle.encode(olds, (long) p * PAGE, news, (long) p * PAGE, PAGE, deltas, (long) p * ROOM, ROOM);
            }
            MemorySegment.copy(olds, 0, decoded, 0, (long) pages * PAGE);
            long[] sink = {0};
            double encodeBest = bestNsPerPage(cpu, samples, pages, () -> {
                for (int p = 0; p < pages; p++) {
                    sink[0] += Xbzrle.encode(olds, (long) p * PAGE, news, (long) p * PAGE, PAGE, dst, 0, PAGE - 1);
                }
            });
            double decodeBest = bestNsPerPage(cpu, samples, pages, () -> {
                for (int p = 0; p < pages; p++) {
                    Xbzrle.decode(deltas, (long) p * ROOM, lengths[p], decoded, (long) p * PAGE, PAGE);
                }
            });
            System.out.printf("encode_cpu_best_ns_per_page %.2f%ndecode_cpu_best_ns_per_page %.2f%nchecksum %d%n",
                    encodeBest, decodeBest, sink[0]);
        }
    }

    /** One pass over all pages. */
    private interface Round {
        void run() throws XbzrleFormatException;
    }

    /**
     * The best of {@code samples} measurements of {@code round} (one pass over all pages), each
     * repeating it for at least SAMPLE_NS of this thread's CPU time, in CPU ns per page.
     */
    private static double bestNsPerPage(ThreadMXBean cpu, int samples, int pages, Round round) throws XbzrleFormatException {
        double best = Double.MAX_VALUE;
        for (int s = 0; s < samples; s++) {
            long start = cpu.getCurrentThreadCpuTime();
            long rounds = 0;
            long spent;
            do {
                round.run();
                rounds++;
            } while ((spent = cpu.getCurrentThreadCpuTime() - start) < SAMPLE_NS);
            best = Math.min(best, (double) spent / (rounds * pages));
        }
        return best;
    }
}
