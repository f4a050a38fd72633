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
 * the same page pairs, and prints both with the Java/C time ratio (below 1 = Java faster).
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

        System.out.println();
        System.out.println("XBZRLE, ns per 4 KiB page (" + XbzrleWorkload.PAGES + " pages; Java: JMH average; C: gcc "
                + System.getProperty("xbzrle.cflags", "-O2") + ", timed loop)");
        System.out.printf("%-11s %10s %10s %7s   %10s %10s %7s%n",
                "scenario", "enc Java", "enc C", "J/C", "dec Java", "dec C", "J/C");
        for (Scenario s : Scenario.values()) {
            Double je = javaNs.get(s + "/encode");
            Double jd = javaNs.get(s + "/decode");
            if (je == null && jd == null) continue;
            XbzrleReference.Timing ct = c.bench(XbzrleWorkload.generate(s), cMillis);
            System.out.printf("%-11s %10s %10.1f %7s   %10s %10.1f %7s%n", s,
                    fmt(je), ct.encodeNsPerPage(), ratio(je, ct.encodeNsPerPage()),
                    fmt(jd), ct.decodeNsPerPage(), ratio(jd, ct.decodeNsPerPage()));
        }
    }

    private static String fmt(Double ns) { return ns == null ? "-" : String.format("%.1f", ns); }

    private static String ratio(Double java, double c) { return java == null ? "-" : String.format("%.2f", java / c); }
}
