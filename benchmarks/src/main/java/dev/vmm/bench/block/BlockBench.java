package dev.vmm.bench.block;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.Images;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * 4 KiB read and write IOPS of our block layer against {@code qemu-img bench} on the same images
 * (1 GiB qcow2 and raw, fully allocated), same request size, same queue depth, same offsets.
 *
 * <p>qemu-img bench has no random mode: it steps through the image by {@code -S} bytes and wraps to
 * 0 past the end. Both sides use that walk with a step of 1 MiB + 4 KiB, which touches 1020
 * different 4 KiB blocks spread over the whole image per pass. Our side runs {@code depth} threads
 * (the virtio data plane's model); qemu-img bench keeps {@code depth} requests in flight with its
 * thread-pool AIO. Both use the host page cache (qemu: {@code -t writeback}).
 *
 * <p>Run: {@code benchmarks/run-block-bench.sh [dir] [depth] [count]}. Not run in CI.
 */
public final class BlockBench {
    private static final long SIZE = 1L << 30;
    private static final int BS = 4096;
    private static final long STEP = (1 << 20) + BS;

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "/tmp/vmm-block-bench");
        int depth = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        long count = args.length > 2 ? Long.parseLong(args[2]) : 400_000;
        Files.createDirectories(dir);
        Path qcow2 = dir.resolve("bench.qcow2"), raw = dir.resolve("bench.raw");
        if (!Files.exists(qcow2)) run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=falloc", qcow2.toString(), "1G");
        if (!Files.exists(raw)) run("qemu-img", "create", "-q", "-f", "raw", "-o", "preallocation=falloc", raw.toString(), "1G");
        System.out.printf(Locale.ROOT, "4 KiB requests, depth %d, %d requests, step %d bytes, 1 GiB images in %s%n", depth, count, STEP, dir);
        System.out.printf(Locale.ROOT, "%-8s %-6s %14s %14s %8s%n", "image", "op", "vmm IOPS", "qemu IOPS", "ratio");
        for (String fmt : List.of("qcow2", "raw")) {
            Path img = fmt.equals("qcow2") ? qcow2 : raw;
            for (boolean write : new boolean[] {false, true}) {
                ours(img, write, depth, count / 4); // warm-up
                double o = ours(img, write, depth, count);
                double q = qemu(img, fmt, write, depth, count);
                System.out.printf(Locale.ROOT, "%-8s %-6s %14.0f %14.0f %8.2f%n", fmt, write ? "write" : "read", o, q, o / q);
            }
        }
    }

    /** Requests per second through our layer: {@code depth} threads share one offset walk. */
    static double ours(Path img, boolean write, int depth, long count) throws Exception {
        try (BlockDevice d = Images.open(img, write ? Images.Options.readWriteDefaults() : Images.Options.readOnlyDefaults())) {
            AtomicLong next = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            long start = System.nanoTime();
            for (int t = 0; t < depth; t++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment buf = a.allocate(BS, 4096);
                        buf.fill((byte) 0x5a);
                        for (long i; (i = next.getAndIncrement()) < count; ) {
                            long off = offset(i);
                            if (write) d.write(off, buf);
                            else d.read(off, buf);
                        }
                    }
                }));
            }
            for (Thread t : threads) t.join();
            if (write) d.flush();
            return count / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** qemu-img bench's walk: add the step, wrap to 0 past the end. */
    static long offset(long i) {
        long perPass = (SIZE - BS) / STEP + 1;
        return (i % perPass) * STEP;
    }

    static double qemu(Path img, String fmt, boolean write, int depth, long count) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-img", "bench", "-f", fmt, "-t", "writeback", "-c", Long.toString(count),
                "-d", Integer.toString(depth), "-s", Integer.toString(BS), "-S", Long.toString(STEP)));
        if (write) cmd.addAll(List.of("-w", "--pattern=90"));
        cmd.add(img.toString());
        String out = run(cmd.toArray(String[]::new));
        Matcher m = Pattern.compile("Run completed in ([0-9.]+) seconds").matcher(out);
        if (!m.find()) throw new IllegalStateException("unexpected qemu-img bench output: " + out);
        return count / Double.parseDouble(m.group(1));
    }

    static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        return out;
    }
}
