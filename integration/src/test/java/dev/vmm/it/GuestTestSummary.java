package dev.vmm.it;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Records which test classes did not run and why (a class whose {@code @BeforeAll} assumption
 * failed is reported by surefire as zero tests, not as skipped), in
 * {@code target/guest-tests-skipped.tsv}: one line per class, its name and the reason. run-tests.sh
 * turns it into its closing line ({@code guest tests: 31 classes skipped (no usable /dev/kvm)} or
 * {@code guest tests: all ran}), so a skip never passes unseen.
 */
public final class GuestTestSummary implements TestExecutionListener {
    static final Path FILE = Path.of("target", "guest-tests-skipped.tsv");

    private final Map<String, String> skipped = new TreeMap<>();

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        record(id, reason);
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (result.getStatus() == TestExecutionResult.Status.ABORTED) {
            record(id, result.getThrowable().map(Throwable::getMessage).orElse("aborted"));
        }
    }

    private synchronized void record(TestIdentifier id, String reason) {
        String why = reason == null ? "" : reason.replaceFirst("^Assumption failed: ", "").replaceAll("[\\t\\n]", " ");
        if (id.getSource().orElse(null) instanceof ClassSource c) {
            skipped.put(c.getClassName(), why);
        } else if (id.getSource().orElse(null) instanceof MethodSource m) { // an assumption inside one test
            skipped.put(m.getClassName() + "#" + m.getMethodName(), why);
        }
    }

    @Override
    public synchronized void testPlanExecutionFinished(TestPlan plan) {
        if (!Files.isDirectory(FILE.getParent())) return;
        StringBuilder sb = new StringBuilder();
        skipped.forEach((cls, why) -> sb.append(cls).append('\t').append(why).append('\n'));
        try {
            Files.writeString(FILE, sb.toString());
        } catch (IOException e) {
            System.err.println("GuestTestSummary: cannot write " + FILE + ": " + e.getMessage());
        }
    }
}
