package dev.vmm.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Collects a guest's console output line by line, stamping each line with the time since a
 * start instant, and waits (with a timeout) until a list of milestone regexes has been seen.
 *
 * <p>Fed either from a stream (a QEMU child process's stdout: {@link #watch}) or by pushing
 * bytes (an in-process serial device: {@link #feed}/{@link #asOutputStream}). The times are
 * host wall-clock times measured when the line's newline arrived: what a user waiting for the
 * guest sees, and comparable between the VMM and QEMU.
 *
 * <p>Thread-safe: one producer feeds, any thread may {@link #await}.
 */
public final class ConsoleWatcher implements AutoCloseable {

    /** A named console line pattern, e.g. {@code ("VFS: Mounted root", "VFS: Mounted root \\(")}. */
    public record Milestone(String name, Pattern pattern) {
        public Milestone {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(pattern, "pattern");
        }

        /** A milestone matched by {@link java.util.regex.Matcher#find} anywhere in a line. */
        public static Milestone of(String name, String regex) {
            return new Milestone(name, Pattern.compile(regex));
        }

        boolean matches(String line) {
            return pattern.matcher(line).find();
        }
    }

    /** One console line and when it was complete, relative to the watcher's start. */
    public record Line(Duration at, String text) {
        @Override
        public String toString() {
            return String.format("[%8.3f s] %s", at.toNanos() / 1e9, text);
        }
    }

    /** The first line that matched a milestone. */
    public record Hit(Milestone milestone, Line line) {
        public Duration at() {
            return line.at();
        }
    }

    /** What {@link #await} found. */
    public record Result(List<Milestone> wanted, List<Hit> hits, boolean inputEnded, Duration waited,
                         List<Line> transcript) {

        public boolean allSeen() {
            return hits.size() == wanted.size();
        }

        /** The milestones that never appeared, in the order asked for. */
        public List<Milestone> missing() {
            List<Milestone> seen = hits.stream().map(Hit::milestone).toList();
            return wanted.stream().filter(m -> !seen.contains(m)).toList();
        }

        public Optional<Hit> hit(String name) {
            return hits.stream().filter(h -> h.milestone().name().equals(name)).findFirst();
        }

        /** When the named milestone appeared; empty if it did not. */
        public Optional<Duration> at(String name) {
            return hit(name).map(Hit::at);
        }

        /** True when the milestones that appeared did so in the order they were asked for. */
        public boolean inOrder() {
            Duration last = Duration.ZERO;
            for (Milestone m : wanted) {
                Optional<Hit> h = hit(m.name());
                if (h.isEmpty()) {
                    continue;
                }
                if (h.get().at().compareTo(last) < 0) {
                    return false;
                }
                last = h.get().at();
            }
            return true;
        }

        /**
         * A table of milestones and times, then why the wait ended and the transcript's last
         * lines: meant as an assertion message, so a failing boot explains itself.
         */
        public String describe(int transcriptLines) {
            StringBuilder sb = new StringBuilder();
            for (Milestone m : wanted) {
                Optional<Hit> h = hit(m.name());
                sb.append(h.map(x -> String.format("  %8.3f s  ", x.at().toNanos() / 1e9)).orElse("     ---    "))
                  .append(m.name());
                h.ifPresent(x -> sb.append("   | ").append(x.line().text()));
                sb.append('\n');
            }
            sb.append(allSeen() ? "all milestones seen" : inputEnded
                    ? "console output ended before all milestones"
                    : "timed out after " + waited.toMillis() + " ms");
            sb.append('\n');
            int from = Math.max(0, transcript.size() - transcriptLines);
            if (from < transcript.size()) {
                sb.append("last ").append(transcript.size() - from).append(" console lines:\n");
                for (Line l : transcript.subList(from, transcript.size())) {
                    sb.append("  ").append(l).append('\n');
                }
            }
            return sb.toString();
        }

        @Override
        public String toString() {
            return describe(40);
        }
    }

    /** Longest line kept whole; a guest printing without newlines cannot grow memory unbounded. */
    static final int MAX_LINE = 4096;
    /** Lines kept; the oldest are dropped beyond this (a smoke boot prints a few hundred). */
    static final int MAX_LINES = 100_000;

    private final long startNanos;
    private final Consumer<String> echo;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Deque<Line> lines = new ArrayDeque<>();
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private boolean ended;
    private Thread reader;

    /**
     * @param startNanos the {@link System#nanoTime()} that times are measured from (usually just
     *                   before the VM or process was started)
     * @param echo       receives every complete line as it arrives (e.g. {@code System.out::println}
     *                   to see the boot live); may be {@code null}
     */
    public ConsoleWatcher(long startNanos, Consumer<String> echo) {
        this.startNanos = startNanos;
        this.echo = echo != null ? echo : s -> { };
    }

    /** A watcher timing from now, without echo. */
    public ConsoleWatcher() {
        this(System.nanoTime(), null);
    }

    /**
     * Starts a daemon thread that copies {@code in} into a new watcher until end of stream,
     * then marks the input ended (so waits return at once instead of running into their timeout).
     */
    public static ConsoleWatcher watch(InputStream in, long startNanos, Consumer<String> echo) {
        ConsoleWatcher w = new ConsoleWatcher(startNanos, echo);
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try (in) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    w.feed(buf, 0, n);
                }
            } catch (IOException e) {
                // The process died or the stream was closed under us: either way, no more output.
            } finally {
                w.endOfInput();
            }
        }, "console-watcher");
        t.setDaemon(true);
        w.reader = t;
        t.start();
        return w;
    }

    /** Adds console bytes; complete lines become visible to {@link #await}. */
    public void feed(byte[] b, int off, int len) {
        Objects.checkFromIndexSize(off, len, b.length);
        lock.lock();
        try {
            for (int i = off; i < off + len; i++) {
                byte c = b[i];
                if (c == '\n') {
                    completeLine();
                } else if (c != '\r') {
                    partial.write(c);
                    if (partial.size() >= MAX_LINE) {
                        completeLine();
                    }
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Marks the end of the console output (the VM or process is gone); flushes a last partial line. */
    public void endOfInput() {
        lock.lock();
        try {
            if (partial.size() > 0) {
                completeLine();
            }
            ended = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** An OutputStream view, for devices that write to a stream (closing it ends the input). */
    public OutputStream asOutputStream() {
        return new OutputStream() {
            @Override
            public void write(int b) {
                feed(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                feed(b, off, len);
            }

            @Override
            public void close() {
                endOfInput();
            }
        };
    }

    private void completeLine() {
        Line line = new Line(Duration.ofNanos(System.nanoTime() - startNanos),
                partial.toString(StandardCharsets.UTF_8));
        partial.reset();
        if (lines.size() == MAX_LINES) {
            lines.removeFirst();
        }
        lines.addLast(line);
        changed.signalAll();
        echo.accept(line.text());
    }

    /** Every complete line so far (a copy). */
    public List<Line> transcript() {
        lock.lock();
        try {
            return List.copyOf(lines);
        } finally {
            lock.unlock();
        }
    }

    public boolean inputEnded() {
        lock.lock();
        try {
            return ended;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until every milestone has matched some line (lines that arrived before this call
     * count too), the input ends, or {@code timeout} passes. Each milestone is matched
     * independently, by its first matching line; {@link Result#inOrder()} tells whether they
     * came in the order given. Never throws on a missing milestone: assert on the result.
     */
    public Result await(List<Milestone> milestones, Duration timeout) throws InterruptedException {
        List<Milestone> wanted = List.copyOf(milestones);
        long t0 = System.nanoTime();
        long deadline = t0 + timeout.toNanos();
        lock.lock();
        try {
            while (true) {
                List<Hit> hits = match(wanted);
                long now = System.nanoTime();
                if (hits.size() == wanted.size() || ended || now - deadline >= 0) {
                    return new Result(wanted, hits, ended && hits.size() < wanted.size(),
                            Duration.ofNanos(now - t0), List.copyOf(lines));
                }
                changed.awaitNanos(Math.min(deadline - now, TimeUnit.MILLISECONDS.toNanos(500)));
            }
        } finally {
            lock.unlock();
        }
    }

    /** Convenience: {@link #await(List, Duration)} with varargs. */
    public Result await(Duration timeout, Milestone... milestones) throws InterruptedException {
        return await(List.of(milestones), timeout);
    }

    private List<Hit> match(List<Milestone> wanted) {
        List<Hit> hits = new ArrayList<>();
        for (Milestone m : wanted) {
            for (Line l : lines) {
                if (m.matches(l.text())) {
                    hits.add(new Hit(m, l));
                    break;
                }
            }
        }
        hits.sort((a, b) -> a.at().compareTo(b.at()));
        return Collections.unmodifiableList(hits);
    }

    /** Waits for the reader thread (if any) to finish, at most {@code timeout}. */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (!ended) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                changed.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Stops reading (the stream reader thread, if any, is interrupted) and ends the input. */
    @Override
    public void close() {
        if (reader != null) {
            reader.interrupt();
        }
        endOfInput();
    }

    /** Writes the transcript to {@code out}, one stamped line each (for test reports). */
    public void dump(OutputStream out) {
        try {
            for (Line l : transcript()) {
                out.write((l + "\n").getBytes(StandardCharsets.UTF_8));
            }
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
