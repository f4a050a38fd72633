package dev.vmm.bench.device;

import dev.vmm.virtio.blk.CacheMode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * io_uring registered buffers against plain READV/WRITEV on the virtio-blk device path, measured in
 * one JVM and interleaved: two devices (the same {@link DevicePathBenchmark.Blk} set-up, one with
 * guest RAM registered as fixed buffers) over two copies of one image, run for {@code SECONDS}
 * each in turn (which one first alternates), {@code ROUNDS} times, after a warm-up of each. Interleaving keeps a loaded host's
 * swings out of the ratio. Prints requests/s and MiB/s medians, the fixed/plain ratio, and the
 * share of requests that really went out fixed.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.vmm.bench.device.FixedBuffersAB DIR [cache] [rounds] [seconds]</pre>
 * DIR holds the two 256 MiB images (made if missing): /dev/shm for tmpfs, a disk directory for the disk.
 */
public final class FixedBuffersAB {
    private FixedBuffersAB() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        CacheMode cache = CacheMode.valueOf((args.length > 1 ? args[1] : "writeback").toUpperCase());
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 7;
        double seconds = args.length > 3 ? Double.parseDouble(args[3]) : 1.0;
        Path a = dir.resolve("vmm-fixed-ab-1.img"), b = dir.resolve("vmm-fixed-ab-2.img");
        System.out.printf("dir %s, cache=%s, %d rounds of %.1f s, load %s%n", dir, cache.name().toLowerCase(), rounds, seconds,
                Files.readString(Path.of("/proc/loadavg")).trim());
        for (String pattern : new String[] {"4k-random", "1m-seq"}) {
            for (String op : new String[] {"read", "write"}) {
                DevicePathBenchmark.Blk plain = blk(a, cache, pattern, op, "plain");
                DevicePathBenchmark.Blk fixed = blk(b, cache, pattern, op, "fixed");
                try {
                    plain.setUp(); // makes the image if missing; the fixed device gets a copy (its own OFD lock)
                    if (!Files.exists(b) || Files.size(b) != Files.size(a)) Files.copy(a, b, StandardCopyOption.REPLACE_EXISTING);
                    fixed.setUp();
                    run(plain, seconds, new double[1], 0);
                    run(fixed, seconds, new double[1], 0); // warm-up, not counted
                    double[] p = new double[rounds], f = new double[rounds], pc = new double[rounds], fc = new double[rounds];
                    long fixed0 = fixed.fixedSubmitted(), posted0 = fixed.posted;
                    for (int r = 0; r < rounds; r++) { // which one goes first alternates
                        if (r % 2 == 0) {
                            p[r] = run(plain, seconds, pc, r);
                            f[r] = run(fixed, seconds, fc, r);
                        } else {
                            f[r] = run(fixed, seconds, fc, r);
                            p[r] = run(plain, seconds, pc, r);
                        }
                    }
                    double share = (double) (fixed.fixedSubmitted() - fixed0) / (fixed.posted - posted0);
                    double mp = median(p), mf = median(f);
                    double mib = plain.blockSize() / (double) (1 << 20);
                    double cp = median(pc), cf = median(fc);
                    System.out.printf("%-9s %-5s plain %9.0f req/s %8.1f MiB/s %7.2f us CPU/req | fixed %9.0f req/s %8.1f MiB/s %7.2f us CPU/req"
                                    + " | fixed/plain: rate %.2f (rounds %s), CPU per request %.2f | fixed share %.2f, plain fixed %d%n",
                            pattern, op, mp, mp * mib, cp / 1e3, mf, mf * mib, cf / 1e3, mf / mp, ratios(p, f), cf / cp, share, plain.fixedSubmitted());
                } finally {
                    plain.tearDown();
                    fixed.tearDown();
                }
            }
        }
        System.out.printf("load after %s%n", Files.readString(Path.of("/proc/loadavg")).trim());
    }

    private static DevicePathBenchmark.Blk blk(Path image, CacheMode cache, String pattern, String op, String buffers) {
        DevicePathBenchmark.Blk b = new DevicePathBenchmark.Blk(); // what JMH's @Params would set
        b.image = image; b.cache = cache; b.pattern = pattern; b.op = op; b.buffers = buffers;
        return b;
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /**
     * Requests per second over about {@code seconds}; {@code cpu[i]} gets the process's CPU time per
     * request (all threads, the kernel's io_uring workers included: they belong to the process), the
     * figure a loaded host disturbs least.
     */
    private static double run(DevicePathBenchmark.Blk b, double seconds, double[] cpu, int i) {
        long c0 = OS.getProcessCpuTime();
        long t0 = System.nanoTime(), end = t0 + (long) (seconds * 1e9);
        long n0 = b.posted;
        long t;
        do {
            b.requests();
            t = System.nanoTime();
        } while (t < end);
        long n = b.posted - n0;
        cpu[i] = (OS.getProcessCpuTime() - c0) / (double) n;
        return n / ((t - t0) / 1e9);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String ratios(double[] p, double[] f) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < p.length; i++) sb.append(i == 0 ? "" : " ").append(String.format("%.2f", f[i] / p[i]));
        return sb.toString();
    }
}
