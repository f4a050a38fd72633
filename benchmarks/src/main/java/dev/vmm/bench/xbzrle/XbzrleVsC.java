package dev.vmm.bench.xbzrle;

import dev.vmm.bench.xbzrle.XbzrleWorkload.Scenario;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * Runs {@link XbzrleBenchmark} under JMH, then the C reference (xbzrle_ref.c, built with gcc) on
 * the same page pairs, and prints both with the Java/C time ratio (below 1 = Java faster): once as
 * mean wall-clock time (JMH's measure, and the C loop's), and once as the best 100 ms sample of
 * thread CPU time ({@link XbzrleCpuTime} in a fresh JVM per scenario, and the C loop's), which is
 * the fairer comparison when other work shares the cores.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.vmm.bench.xbzrle.XbzrleVsC [JMH options]</pre>
 *
 * JMH options (e.g. {@code -wi 2 -i 3 -p scenario=FEW}) pass through; {@code -Dxbzrle.c.ms=N} sets
 * how long each C loop runs (default 2000 ms).
 */
public final class XbzrleVsC {
    private XbzrleVsC() {}

    public static void main(String[] args) throws Exception {
        Options options = new OptionsBuilder()
                .parent(new CommandLineOptions(args))
                .include(XbzrleBenchmark.class.getName())
                .build();
        Collection<RunResult> results = new Runner(options).run();

        Map<String, Double> javaNs = new HashMap<>();
        for (RunResult r : results) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            javaNs.put(r.getParams().getParam("scenario") + "/" + method, r.getPrimaryResult().getScore());
        }

        XbzrleReference.Result built = XbzrleReference.build(Path.of(System.getProperty("java.io.tmpdir"), "xbzrle-ref-" + ProcessHandle.current().pid()));
        if (built.reference().isEmpty()) {
            System.out.println("C reference skipped: " + built.unavailableReason());
            return;
        }
        XbzrleReference c = built.reference().get();
        int cMillis = Integer.getInteger("xbzrle.c.ms", 2000);

        StringBuilder wall = new StringBuilder();
        StringBuilder cpu = new StringBuilder();
        String header = String.format("%-11s %10s %10s %7s   %10s %10s %7s%n",
                "scenario", "enc Java", "enc C", "J/C", "dec Java", "dec C", "J/C");
        for (Scenario s : Scenario.values()) {
            Double je = javaNs.get(s + "/encode");
            Double jd = javaNs.get(s + "/decode");
            if (je == null && jd == null) continue;
            XbzrleReference.Timing ct = c.bench(XbzrleWorkload.generate(s), cMillis);
            wall.append(String.format("%-11s %10s %10.1f %7s   %10s %10.1f %7s%n", s,
                    fmt(je), ct.encodeNsPerPage(), ratio(je, ct.encodeNsPerPage()),
                    fmt(jd), ct.decodeNsPerPage(), ratio(jd, ct.decodeNsPerPage())));
            Map<String, Double> jc = javaCpuTime(s);
            double jce = jc.get("encode_cpu_best_ns_per_page");
            double jcd = jc.get("decode_cpu_best_ns_per_page");
            cpu.append(String.format("%-11s %10.1f %10.1f %7.2f   %10.1f %10.1f %7.2f%n", s,
                    jce, ct.encodeCpuBestNs(), jce / ct.encodeCpuBestNs(),
                    jcd, ct.decodeCpuBestNs(), jcd / ct.decodeCpuBestNs()));
        }
        String flags = System.getProperty("xbzrle.cflags", "-O2");
        System.out.println();
        System.out.println("XBZRLE, ns per 4 KiB page over " + XbzrleWorkload.PAGES + " pages; C built with gcc " + flags);
        System.out.println("Mean wall-clock time (Java: JMH average; C: timed loop of " + cMillis + " ms):");
        System.out.print(header);
        System.out.print(wall);
        System.out.println("Best thread CPU time of 100 ms samples (Java: fresh JVM per scenario):");
        System.out.print(header);
        System.out.print(cpu);
    }

    /** Runs {@link XbzrleCpuTime} for one scenario in a fresh JVM, like a JMH fork. */
    private static Map<String, Double> javaCpuTime(Scenario scenario) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                XbzrleCpuTime.class.getName(), scenario.name())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) throw new IllegalStateException("XbzrleCpuTime failed: " + out);
        Map<String, Double> values = new HashMap<>();
        out.lines().map(l -> l.split(" ", 2)).filter(kv -> kv.length == 2 && kv[0].endsWith("_per_page"))
                .forEach(kv -> values.put(kv[0], Double.parseDouble(kv[1])));
        return values;
    }

    private static String fmt(Double ns) { return ns == null ? "-" : String.format("%.1f", ns); }

    private static String ratio(Double java, double c) { return java == null ? "-" : String.format("%.2f", java / c); }
}
