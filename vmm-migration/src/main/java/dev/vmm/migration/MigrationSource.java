package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.migration.xbzrle.XbzrleCacheStats;

import java.io.IOException;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channels;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The source of a live pre-copy migration: one object per {@code migrate} command.
 *
 * <p>A dedicated platform thread named {@code migration} sends all of RAM while the vCPUs run,
 * then, round after round, the pages the dirty log reports written meanwhile, until the pages
 * still dirty could be sent within {@code downtime-limit} at the bandwidth measured in the last
 * round. Then it pauses the VM, sends the last dirty pages (and, in verified mode, every page
 * whose hash no longer matches what was sent), the device state, and waits for the destination's
 * READY before answering GO. Any failure or a cancel before READY closes the connection, stops
 * the dirty log and resumes the VM; after READY the VM stays paused (the destination owns it).
 *
 * <p>This class orchestrates; the parts are {@link ConvergencePolicy} (continue, throttle or
 * stop-and-copy after each round), {@link PageSender} (zero/full/XBZRLE pages from a private copy,
 * the verification pass), {@link DirtyBitmap}, {@link SourceStream} (the records on the wire) and
 * {@link ReturnPath} (the destination's ACKs, READY or NAK).
 */
public final class MigrationSource {
    private static final int DEFAULT_PAGE_SIZE = 4096;

    private final DirtyLog dirtyLog;
    private final VmControl vm;
    private final MigrationParameters params;
    private final MigrationCapabilities caps;
    private final RamLayout layout;

    private DirtyLogSelfTest selfTest;
    private Consumer<MigrationStatus> listener = s -> { };

    private volatile MigrationStatus status = MigrationStatus.NONE;
    private volatile boolean cancelRequested;
    private volatile String errorDesc;
    private volatile Throwable failure;
    private final CountDownLatch finished = new CountDownLatch(1);
    private Thread thread;
    private ByteChannel channel;
    private ReturnPath returnPath; // set by start()

    // Statistics: written by the migration thread only, read by anyone.
    private volatile long startNanos;
    private volatile long endNanos;
    private volatile long setupMs;
    private volatile long setupPauseMs;
    private volatile long downtimeMs;
    private volatile long expectedDowntimeMs;
    /** The expected downtime of the round that chose stop-and-copy (-1 until then): the engine's plan. */
    private volatile long switchOverExpectedDowntimeMs = -1;
    private volatile long dirtyPagesRate;
    private volatile double mbps;
    private volatile long dirtySyncCount;
    private volatile long precopyBytes = -1;
    private volatile int throttle;
    private volatile String dirtyLogMode;
    private volatile String selfTestVerdict;
    private volatile Map<String, Long> downtimeBreakdown = Map.of();
    private volatile SourceStream out;     // from setup on
    private volatile DirtyBitmap dirty;    // from setup on
    private volatile PageSender pages;     // from setup on

    public MigrationSource(GuestMemory memory, DirtyLog dirtyLog, VmControl vm, MigrationParameters params,
                           MigrationCapabilities caps) {
        this(memory, dirtyLog, vm, params, caps, DEFAULT_PAGE_SIZE);
    }

    public MigrationSource(GuestMemory memory, DirtyLog dirtyLog, VmControl vm, MigrationParameters params,
                           MigrationCapabilities caps, int pageSize) {
        this.layout = new RamLayout(Objects.requireNonNull(memory), pageSize);
        this.dirtyLog = Objects.requireNonNull(dirtyLog);
        this.vm = Objects.requireNonNull(vm);
        this.params = Objects.requireNonNull(params);
        this.caps = caps.copy();
    }

    /**
     * Decides trust in the dirty log at setup when {@code x-dirty-log-verify} is {@code auto}:
     * a failed self-test switches to verified mode. Without one, {@code auto} trusts the log.
     */
    public MigrationSource selfTest(DirtyLogSelfTest test) {
        this.selfTest = test;
        return this;
    }

    /** Called on the migration thread at every status change (QEMU's MIGRATION event). */
    public MigrationSource onStatusChange(Consumer<MigrationStatus> listener) {
        this.listener = Objects.requireNonNull(listener);
        return this;
    }

    /** Starts migrating over {@code channel} (blocking mode, connected); the engine closes it. */
    public synchronized void start(ByteChannel channel) {
        if (thread != null) throw new IllegalStateException("this migration was already started");
        this.channel = channel;
        returnPath = new ReturnPath(Channels.newInputStream(channel), () -> cancelRequested, this::closeChannel);
        startNanos = System.nanoTime();
        setStatus(MigrationStatus.SETUP);
        thread = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.MIGRATION, "migration", this::run);
    }

    /**
     * {@code migrate_cancel}: stops at the next page (or unblocks a blocked write by closing the
     * connection) and resumes the VM. No effect once the destination reported READY.
     */
    public void cancel() {
        synchronized (this) {
            if (status.isFinal() || status == MigrationStatus.CANCELLING) return;
            if (returnPath != null && returnPath.readyReceived()) return; // too late: the destination owns the VM
            cancelRequested = true;
            setStatus(MigrationStatus.CANCELLING);
        }
        closeChannel();
    }

    public MigrationStatus status() { return status; }

    /** Why the migration failed or was cancelled, or null. */
    public Throwable failure() { return failure; }

    /** Waits until the migration is over; returns false on timeout. */
    public boolean await(long timeout, TimeUnit unit) throws InterruptedException {
        return finished.await(timeout, unit);
    }

    /**
     * The downtime the engine expected when it chose stop-and-copy (what it had left at the
     * bandwidth it measured, plus the verification cost), -1 before that. Unlike the measured
     * downtime, a decision: it does not depend on how the host schedules the pause.
     */
    public long switchOverExpectedDowntimeMs() {
        return switchOverExpectedDowntimeMs;
    }

    public MigrationStats stats() {
        MigrationStatus s = status;
        long end = s.isFinal() && endNanos != 0 ? endNanos : System.nanoTime();
        long total = startNanos == 0 ? 0 : (end - startNanos) / 1_000_000;
        SourceStream o = out;
        DirtyBitmap d = dirty;
        PageSender p = pages;
        long moved = o == null ? 0 : o.transferred();
        long pre = precopyBytes < 0 ? moved : precopyBytes;
        long remainingPages = d == null ? 0 : d.remaining();
        int pageSize = layout.pageSize;
        return new MigrationStats(s, total, expectedDowntimeMs, downtimeMs, setupMs, moved, remainingPages * pageSize,
                layout.totalPages * pageSize, p == null ? 0 : p.duplicate(), p == null ? 0 : p.normal(), pageSize,
                dirtyPagesRate, mbps, dirtySyncCount, pre, moved - pre, caps.xbzrle() ? xbzrleOrEmpty(p) : null, throttle,
                dirtyLogMode, p == null ? 0 : p.verifiedResent(), selfTestVerdict, errorDesc, setupPauseMs, downtimeBreakdown);
    }

    private XbzrleCacheStats xbzrleOrEmpty(PageSender p) {
        XbzrleCacheStats x = p == null ? null : p.xbzrleStats();
        return x != null ? x : new XbzrleCacheStats(params.xbzrleCacheSize(), 0, 0, 0, 0, 0, 0, 0, 0);
    }

    private void setStatus(MigrationStatus s) {
        status = s;
        try {
            listener.accept(s);
        } catch (RuntimeException ignored) {
            // a listener's bug must not break the migration
        }
    }

    // ---------------------------------------------------------------- the migration thread

    private boolean paused;
    private boolean logStarted;

    private void run() {
        try {
            migrate();
            endNanos = System.nanoTime();
            setStatus(MigrationStatus.COMPLETED);
        } catch (Throwable t) {
            fail(t);
        } finally {
            if (pages != null) pages.close();
            if (logStarted) dirtyLog.stop();
            closeChannel();
            finished.countDown();
        }
    }

    private void fail(Throwable t) {
        // A write that failed because the destination gave up usually has the destination's reason
        // (NAK) already waiting on the return path: let it be read before closing the channel, or the
        // close would make that read fail too and the reason would be lost.
        if (!cancelRequested && t instanceof IOException) returnPath.join(500);
        closeChannel(); // the destination must see the end before this VM runs again
        returnPath.join(1000);
        String peerError = returnPath.peerError();
        String why = cancelRequested ? "migration cancelled"
                : peerError != null ? peerError
                : t.getMessage() != null ? t.getMessage() : t.toString();
        if (!cancelRequested && peerError == null && t instanceof IOException && !(t instanceof MigrationException)) {
            why = "connection to the destination failed: " + why;
        }
        errorDesc = why;
        failure = t;
        unthrottle();
        if (paused) {
            paused = false;
            vm.resume();
        }
        endNanos = System.nanoTime();
        setStatus(cancelRequested ? MigrationStatus.CANCELLED : MigrationStatus.FAILED);
    }

    /** Ends auto-converge's throttling, whatever the outcome (query-migrate then shows none). */
    private void unthrottle() {
        if (throttle == 0) return;
        throttle = 0;
        try {
            vm.throttle(0);
        } catch (RuntimeException ignored) {
            // resuming or handing over matters more
        }
    }

    private void migrate() throws Exception {
        RateLimiter limiter = new RateLimiter(params::maxBandwidth, () -> cancelRequested || returnPath.peerError() != null);
        out = new SourceStream(Channels.newOutputStream(channel), limiter);
        returnPath.start();
        setup();
        int iteration = liveRounds();
        stopAndCopy(iteration);
    }

    /**
     * A rehearsal of stop-and-copy warms its code; then the dirty log goes on before the first pass,
     * so nothing written during it is lost; the dirty-log mode is decided and the header sent.
     */
    private void setup() throws Exception {
        long r0 = System.nanoTime();
        vm.rehearse();
        setupPauseMs = (System.nanoTime() - r0) / 1_000_000;
        checkAbort();
        dirtyLog.start();
        logStarted = true;
        boolean verified = decideDirtyLogMode();
        pages = new PageSender(layout, out, caps.xbzrle() ? params.xbzrleCacheSize() : -1, verified);
        out.header(layout.pageSize, (caps.xbzrle() ? MigrationProtocol.CAP_XBZRLE : 0) | MigrationProtocol.CAP_ITERATION_ACK,
                layout.regions);
        dirty = new DirtyBitmap(layout); // every page dirty
        setupMs = (System.nanoTime() - startNanos) / 1_000_000;
        checkAbort();
        setStatus(MigrationStatus.ACTIVE);
    }

    /**
     * Sends round after round, each one what the previous one left dirty, until the
     * {@link ConvergencePolicy} says stop-and-copy, throttling the vCPUs when it says so.
     *
     * @return the number of the iteration stop-and-copy ends
     */
    private int liveRounds() throws Exception {
        out.rateLimited(true);
        int iteration = 0;
        ConvergencePolicy.State convergence = ConvergencePolicy.State.INITIAL;
        while (true) {
            pages.resizeCacheIfChanged(params.xbzrleCacheSize());
            long t0 = System.nanoTime();
            long bytes0 = out.transferred();
            pages.sendDirty(dirty, this::checkAbort);
            out.endIteration(iteration);
            out.flush();
            // The round ends when the destination has it: then the bandwidth below is end to end, and
            // no earlier round is still in a socket buffer at the switch-over, where it would be downtime.
            returnPath.awaitAck(iteration++, this::checkAbort);
            long dirtyBytes = sync() * layout.pageSize;
            long nanos = Math.max(1, System.nanoTime() - t0);
            ConvergencePolicy.Round round = new ConvergencePolicy.Round(dirtyBytes, out.transferred() - bytes0, nanos, dirtyBytes);
            mbps = round.sentBytes() * 8e3 / nanos;                       // bits per µs = Mbit/s
            dirtyPagesRate = (long) (dirtyBytes / layout.pageSize * 1e9 / nanos);
            ConvergencePolicy.Decision d = ConvergencePolicy.decide(round, ConvergencePolicy.Settings.of(params, caps), convergence);
            expectedDowntimeMs = d.expectedDowntimeMs() == Long.MAX_VALUE ? Long.MAX_VALUE : d.expectedDowntimeMs() + pages.verifyCostMs();
            if (d.action() == ConvergencePolicy.Action.STOP_AND_COPY) {
                switchOverExpectedDowntimeMs = expectedDowntimeMs;
                return iteration;
            }
            convergence = d.next();
            if (d.action() == ConvergencePolicy.Action.THROTTLE) {
                throttle = d.throttlePercent();
                vm.throttle(d.throttlePercent());
            }
            checkAbort();
        }
    }

    /**
     * Pauses the VM, sends the last dirty pages without the bandwidth limit (as QEMU: all of it is
     * downtime), the changed pages in verified mode, the device state and {@code complete}; waits
     * for READY, hands over and sends GO.
     */
    private void stopAndCopy(int iteration) throws Exception {
        checkAbort();
        setStatus(MigrationStatus.DEVICE);
        long downStart = System.nanoTime();
        DowntimeClock clock = new DowntimeClock(downStart);
        precopyBytes = out.transferred();
        vm.pause();
        paused = true;
        clock.lap("pause");
        out.rateLimited(false);
        checkAbort();
        sync();
        pages.sendDirty(dirty, this::checkAbort);
        clock.lap("ram");
        if (pages.verified()) clock.split("verify-hash", pages.resendChangedPages(this::checkAbort), "verify-resend");
        out.endIteration(iteration);
        out.deviceState(vm);
        out.complete(pages.pageRecords());
        out.flush();
        clock.lap("device");
        returnPath.awaitReady(this::checkAbort);
        clock.lap("ready");
        downtimeMs = (System.nanoTime() - downStart) / 1_000_000;
        downtimeBreakdown = clock.laps();
        expectedDowntimeMs = 0;
        // From here on the destination owns the VM: no cancel, no resume.
        try {
            vm.handOver();
        } catch (Exception e) {
            errorDesc = "hand-over to the destination: " + e.getMessage();
        }
        try {
            out.go();
        } catch (IOException e) {
            // The destination has everything and will start only on GO; if GO is lost it discards,
            // and this VM stays paused ('cont' on the source brings it back), never both running.
            errorDesc = "could not confirm the switch-over (" + e.getMessage() + "); the VM is paused on both sides";
        }
        unthrottle();
    }

    /** Times the steps of stop-and-copy, for {@code x-downtime-breakdown}. */
    private static final class DowntimeClock {
        private final Map<String, Long> laps = new LinkedHashMap<>();
        private long last;

        DowntimeClock(long start) {
            last = start;
        }

        void lap(String step) {
            long now = System.nanoTime();
            laps.put(step, (now - last) / 1_000_000);
            last = now;
        }

        /** Ends a lap made of two steps, the first of which took {@code firstNanos}. */
        void split(String first, long firstNanos, String second) {
            long now = System.nanoTime();
            laps.put(first, firstNanos / 1_000_000);
            laps.put(second, (now - last - firstNanos) / 1_000_000);
            last = now;
        }

        Map<String, Long> laps() {
            return java.util.Collections.unmodifiableMap(laps);
        }
    }

    /** Whether to verify pages by hash at stop-and-copy ({@code x-dirty-log-verify}, the self-test). */
    private boolean decideDirtyLogMode() throws Exception {
        boolean verify = switch (params.dirtyLogVerify()) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> {
                if (selfTest == null) yield false;
                DirtyLogSelfTest.Result r = selfTest.run(dirtyLog, layout.pageSize);
                selfTestVerdict = r.toString();
                yield !r.trustworthy();
            }
        };
        dirtyLogMode = verify ? "verified" : "kvm";
        return verify;
    }

    /** Folds the dirty log into the bitmap; returns the number of dirty pages. */
    private long sync() throws Exception {
        long count = dirty.sync(dirtyLog);
        dirtySyncCount++;
        return count;
    }

    private void checkAbort() throws MigrationException {
        if (cancelRequested) throw new MigrationException("migration cancelled");
        String e = returnPath.peerError();
        if (e != null) throw new MigrationException(e);
    }

    private void closeChannel() {
        ByteChannel ch = channel;
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing is all we wanted
        }
    }
}
