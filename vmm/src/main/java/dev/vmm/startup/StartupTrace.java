package dev.vmm.startup;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code vmm run --trace-startup}: where the start-up time goes, phase by phase, from the JVM's own
 * start to the guest's first serial byte (or to the end of a dry run). Off unless asked for: then a
 * mark is one {@code nanoTime} and a list append; the report is printed once, on stderr:
 *
 * <pre>
 * startup:    83.1 ms  +83.1  jvm started, main entered
 * startup:   161.0 ms  +77.9  options parsed
 * ...
 * </pre>
 *
 * The first figure is since the JVM started (its own clock: the launcher's shell part is before it).
 */
public final class StartupTrace {
    private record Mark(String phase, long nanos) { }

    private static volatile boolean enabled;
    private static volatile boolean printed;
    private static long jvmStartNanos;
    private static final List<Mark> marks = new ArrayList<>();

    private StartupTrace() {}

    /** Turns tracing on (from {@code main}, when the argument is there) and marks the entry. */
    public static synchronized void enable() {
        if (enabled) return;
        long now = System.nanoTime();
        long uptimeMillis = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
        jvmStartNanos = now - uptimeMillis * 1_000_000L;
        enabled = true;
        marks.add(new Mark("jvm started, main entered", now));
    }

    public static boolean enabled() { return enabled; }

    /** Records that {@code phase} has just ended. */
    public static void mark(String phase) {
        if (!enabled) return;
        long now = System.nanoTime();
        synchronized (StartupTrace.class) {
            if (!printed) marks.add(new Mark(phase, now));
        }
    }

    /** Marks the last phase and prints the report once ({@code err}: the process's stderr). */
    public static void finish(String phase, PrintStream err) {
        if (!enabled) return;
        String report;
        synchronized (StartupTrace.class) {
            if (printed) return;
            marks.add(new Mark(phase, System.nanoTime()));
            printed = true;
            report = format();
        }
        err.print(report);
        err.flush();
    }

    /** The report so far (for tests). */
    static synchronized String format() {
        StringBuilder sb = new StringBuilder();
        long previous = jvmStartNanos;
        for (Mark m : marks) {
            sb.append(String.format("startup: %8.1f ms  %+7.1f  %s%n", (m.nanos - jvmStartNanos) / 1e6,
                    (m.nanos - previous) / 1e6, m.phase));
            previous = m.nanos;
        }
        return sb.toString();
    }

    /** Forgets everything (tests run several commands in one JVM). */
    static synchronized void reset() {
        enabled = false;
        printed = false;
        marks.clear();
    }
}
