import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder.request;

/**
 * Runs test classes N times in one JVM through the JUnit launcher and prints one line per run
 * (benchmarks/flaky/repeat.sh): a flaky test shown steady under load.
 */
public final class RepeatTests {
    public static void main(String[] args) throws Exception {
        int runs = Integer.parseInt(args[0]);
        int failedRuns = 0;
        for (int run = 1; run <= runs; run++) {
            for (int i = 1; i < args.length; i++) {
                LauncherDiscoveryRequest req = request().selectors(selectClass(Class.forName(args[i]))).build();
                Launcher launcher = LauncherFactory.create();
                SummaryGeneratingListener listener = new SummaryGeneratingListener();
                long t0 = System.nanoTime();
                launcher.execute(req, listener);
                TestExecutionSummary s = listener.getSummary();
                System.out.printf("run %d %s: %d ok, %d failed, %d skipped, %.1f s%n", run, args[i],
                        s.getTestsSucceededCount(), s.getTotalFailureCount(), s.getTestsSkippedCount() + s.getTestsAbortedCount(),
                        (System.nanoTime() - t0) / 1e9);
                if (s.getTotalFailureCount() > 0 || s.getTestsSucceededCount() == 0) {
                    failedRuns++;
                    s.printFailuresTo(new PrintWriter(System.out), 20);
                }
            }
        }
        System.out.println(failedRuns == 0 ? "all runs passed" : failedRuns + " failed runs");
        System.exit(failedRuns == 0 ? 0 : 1);
    }
}
