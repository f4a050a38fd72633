package dev.vmm.control.incoming;

import dev.vmm.migration.IncomingTarget;
import dev.vmm.migration.MigrationDestination;
import dev.vmm.migration.MigrationException;

import java.nio.channels.SocketChannel;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/**
 * A destination's incoming migration ({@code vmm run --incoming URI|defer}), QEMU's way: with a
 * URI the destination listens at once; with {@code defer} it waits, in run state inmigrate, for
 * QMP {@code migrate-incoming {"uri": ...}} — libvirt's normal flow, which sets capabilities and
 * parameters and hot-adds devices first. One object per process; {@link #none()} for a machine
 * started without {@code --incoming} (QMP then refuses {@code migrate-incoming} as QEMU does).
 *
 * <p>Threads: {@link #receive} runs on the thread that will run the machine (it blocks);
 * {@link #start} and {@link #queryMigrate} on QMP threads.
 */
public final class IncomingMigration {
    /** Where the destination is in QEMU's terms (its {@code query-migrate} on a destination). */
    enum Phase { NOT_INCOMING, WAITING_FOR_URI, LISTENING, RECEIVING, DONE }

    private final IncomingUri fixed;
    private final CompletableFuture<IncomingUri.Listener> listening = new CompletableFuture<>();
    private volatile Phase phase;
    private volatile IncomingUri.Listener listener;
    private volatile IncomingUri uri;
    private volatile MigrationDestination destination;
    private volatile Consumer<String> statusEvents = s -> { };

    private IncomingMigration(Phase phase, IncomingUri fixed) {
        this.phase = phase;
        this.fixed = fixed;
    }

    /** A machine started without {@code --incoming}. */
    public static IncomingMigration none() {
        return new IncomingMigration(Phase.NOT_INCOMING, null);
    }

    /**
     * {@code --incoming SPEC}: {@code defer} or a URI.
     *
     * @throws IncomingUri.Refused for a URI this VMM cannot listen on (nothing is bound yet)
     */
    public static IncomingMigration of(String spec) throws IncomingUri.Refused {
        if (spec.equals("defer")) return new IncomingMigration(Phase.WAITING_FOR_URI, null);
        return new IncomingMigration(Phase.WAITING_FOR_URI, IncomingUri.parse(spec));
    }

    /** Whether the URI comes later, by {@code migrate-incoming}. */
    public boolean deferred() { return fixed == null && phase != Phase.NOT_INCOMING; }

    /** Whether the machine is still an incoming one (QEMU's run state inmigrate, as far as migration goes). */
    public boolean pending() {
        Phase p = phase;
        return p != Phase.NOT_INCOMING && p != Phase.DONE;
    }

    /** Where MIGRATION status names go (QMP events: the caller decides whether they are sent, as QEMU's {@code events} capability). */
    void statusEvents(Consumer<String> sink) { statusEvents = sink; }

    /**
     * {@code migrate-incoming}: binds {@code uri} now, so the QMP reply says whether it worked.
     *
     * @throws IllegalStateException with QEMU's words when this destination takes no URI now
     * @throws IncomingUri.Refused   when the URI cannot be listened on (another one may be tried)
     */
    synchronized void start(String uri) throws IncomingUri.Refused {
        checkStartable();
        IncomingUri parsed = IncomingUri.parse(uri);
        IncomingUri.Listener l = parsed.listen();
        this.uri = parsed;
        listener = l;
        phase = Phase.LISTENING;
        listening.complete(l);
    }

    /** The state checks of {@link #start}, in QEMU's order (made before its setup event). */
    synchronized void checkStartable() {
        if (fixed == null && phase != Phase.NOT_INCOMING && phase != Phase.WAITING_FOR_URI) {
            throw new IllegalStateException("The incoming migration has already been started");
        }
        if (phase != Phase.WAITING_FOR_URI || fixed != null) {
            throw new IllegalStateException("'-incoming' was not specified on the command line");
        }
    }

    /** QEMU's destination {@code query-migrate}: {} before a URI, the socket while listening, then the stream's status. */
    public Map<String, Object> queryMigrate() {
        MigrationDestination d = destination;
        Map<String, Object> m = new LinkedHashMap<>();
        if (d != null) m.putAll(d.toMap());
        IncomingUri.Listener l = listener;
        if (l != null && phase == Phase.LISTENING) m.put("socket-address", l.socketAddress());
        return m;
    }

    /** The outcome of {@link #receive}. */
    public enum Outcome { RECEIVED, QUIT_WHILE_WAITING }

    /**
     * Waits for the URI (deferred) or binds it, accepts the source, and runs the migration into
     * {@code target}, which is started on the source's GO. {@code quit} (QMP quit, a signal) ends
     * the wait for the URI or the source.
     *
     * @param log one line each when waiting and when done
     * @throws MigrationException the stream failed ({@code target} was discarded) or the URI could
     *                            not be listened on
     */
    public Outcome receive(IncomingTarget target, CompletionStage<?> quit, Consumer<String> log) throws MigrationException {
        if (phase == Phase.NOT_INCOMING) throw new IllegalStateException("not an incoming machine");
        CompletableFuture<?> stop = quit.toCompletableFuture();
        stop.thenRun(() -> {
            IncomingUri.Listener l = listener;
            if (l != null) l.close();  // ends a blocked accept
            listening.cancel(false);
        });
        if (fixed != null) {
            synchronized (this) {
                try {
                    listener = fixed.listen();
                    uri = fixed;
                } catch (IncomingUri.Refused e) {
                    phase = Phase.DONE;
                    throw new MigrationException(e.getMessage(), e);
                }
                phase = Phase.LISTENING;
                listening.complete(listener);
            }
        } else {
            log.accept("waiting for QMP migrate-incoming (--incoming defer)");
        }
        IncomingUri.Listener l;
        try {
            l = listening.join();
        } catch (java.util.concurrent.CancellationException | java.util.concurrent.CompletionException e) {
            phase = Phase.DONE;
            return Outcome.QUIT_WHILE_WAITING;
        }
        if (stop.isDone()) {   // quit raced with migrate-incoming
            l.close();
            phase = Phase.DONE;
            return Outcome.QUIT_WHILE_WAITING;
        }
        MigrationDestination d = new MigrationDestination(target);
        try (l) {
            log.accept("waiting for an incoming migration on " + uri);
            try {
                d.rehearse(); // while the source has not connected yet
            } catch (MigrationException e) {
                log.accept(e.getMessage() + " (the switch-over will take longer)");
            }
            SocketChannel ch;
            try {
                ch = l.accept();
            } catch (java.io.IOException e) {
                phase = Phase.DONE;
                if (stop.isDone()) return Outcome.QUIT_WHILE_WAITING;
                throw new MigrationException("accepting the source failed: " + e.getMessage(), e);
            }
            destination = d;
            phase = Phase.RECEIVING;
            statusEvents.accept("active");
            try {
                d.run(ch);
            } catch (MigrationException e) {
                phase = Phase.DONE;
                statusEvents.accept("failed");
                throw e;
            }
        }
        phase = Phase.DONE;
        statusEvents.accept("completed");
        log.accept("incoming migration complete; running");
        return Outcome.RECEIVED;
    }
}
