package dev.vmm.threads;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The one place that creates the VMM's threads. Every thread is a named platform thread with a
 * {@link ThreadKind}; before its work starts it runs the initializer registered for its kind, on
 * itself — the hook through which a sandbox installs a per-kind system-call filter (a filter applies
 * to the thread that installs it). Virtual threads are not used for VMM work: they would share
 * carrier threads, and so filters, across kinds.
 */
public final class VmmThreads {
    private static final Map<ThreadKind, Consumer<ThreadKind>> INITIALIZERS = new ConcurrentHashMap<>();
    private static final Map<String, AtomicInteger> COUNTERS = new ConcurrentHashMap<>();
    private static final Map<Thread, ThreadKind> KINDS = java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    private VmmThreads() {}

    /** Runs {@code init} on every thread of {@code kind} started from now on, before its work. */
    public static void onStart(ThreadKind kind, Consumer<ThreadKind> init) {
        INITIALIZERS.put(kind, Objects.requireNonNull(init));
    }

    /** Removes the initializer of {@code kind} (tests). */
    public static void clearOnStart(ThreadKind kind) {
        INITIALIZERS.remove(kind);
    }

    /** The kind of a thread this class created, or null for any other thread (JVM, test, main). */
    public static ThreadKind kindOf(Thread t) {
        return KINDS.get(t);
    }

    /** A daemon thread of {@code kind}, not started yet. */
    public static Thread unstarted(ThreadKind kind, String name, Runnable work) {
        return create(kind, name, true, work);
    }

    /** Starts a daemon thread of {@code kind}. */
    public static Thread start(ThreadKind kind, String name, Runnable work) {
        Thread t = create(kind, name, true, work);
        t.start();
        return t;
    }

    /**
     * Starts a thread that keeps the JVM alive while it runs (work that must finish, like a
     * migration that is sending the guest away).
     */
    public static Thread startNonDaemon(ThreadKind kind, String name, Runnable work) {
        Thread t = create(kind, name, false, work);
        t.start();
        return t;
    }

    /**
     * A factory of daemon threads of {@code kind} named {@code prefix1}, {@code prefix2}, ... (for
     * executors); the numbers go on across factories of the same prefix, so two disks' workers
     * never share a name.
     */
    public static ThreadFactory factory(ThreadKind kind, String prefix) {
        AtomicInteger n = COUNTERS.computeIfAbsent(prefix, p -> new AtomicInteger());
        return r -> create(kind, prefix + n.incrementAndGet(), true, r);
    }

    private static Thread create(ThreadKind kind, String name, boolean daemon, Runnable work) {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(work, "work");
        Thread t = Thread.ofPlatform().name(name).daemon(daemon).unstarted(() -> {
            Consumer<ThreadKind> init = INITIALIZERS.get(kind);
            if (init != null) init.accept(kind);
            work.run();
        });
        KINDS.put(t, kind);
        return t;
    }
}
