package dev.vmm.virtio.io;

import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.Arena;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntFunction;

/**
 * The life cycle of a virtqueue served on one {@link IoThread} with requests in flight: the
 * virtio-blk and virtio-scsi request queues extend it and keep only what a request means.
 *
 * <ul>
 *   <li><b>Kicks and the pop loop.</b> {@link #start()} opens the subclass's resources, watches the
 *       kick eventfd and looks at the avail ring once (the driver may have queued before
 *       DRIVER_OK reached us). {@link #process()} pops chains into free {@link Request} slots and
 *       hands each to {@link #handle}; kicks stay off while requests are in flight
 *       ({@link KickPolicy}).</li>
 *   <li><b>Request pool.</b> One slot per queue entry, pre-allocated; a chain is never popped
 *       without a free slot (a driver with more chains in flight than the queue size is waited
 *       for: "starved").</li>
 *   <li><b>Completion rounds.</b> {@link #complete} writes the answer, puts the chain in the used
 *       ring and, once per {@link IoThread} round, looks at the avail ring again and then
 *       interrupts the driver if it wants to know.</li>
 *   <li><b>Stop, drain.</b> {@link #stop()} (reset) stops popping and completes once nothing is in
 *       flight; answers still arriving are dropped (the driver is resetting). {@link #drain()}
 *       (snapshot, migration: vCPUs paused) stops popping, lets everything in flight complete to
 *       the used ring, signals, then stops. {@code stop()} after either is a no-op.</li>
 *   <li><b>Driver errors.</b> What leaves no way to answer (a ring error, no room for the status)
 *       breaks the queue: {@link #queueError} reports DEVICE_NEEDS_RESET once, and the queue is
 *       left alone until the reset.</li>
 * </ul>
 * Everything runs on the I/O thread; only {@code start}'s caller, {@code stop} and {@code drain}
 * come from elsewhere (through {@link IoThread#runAndWait} / {@link IoThread#execute}).
 *
 * @param <R> the request slot type
 */
public abstract class QueueWorker<R extends QueueWorker.Request> {
    /** A request slot: its index in the pool and the chain popped into it. */
    public static class Request {
        public final int slot;
        public final DescriptorChain chain = new DescriptorChain();

        protected Request(int slot) { this.slot = slot; }
    }

    protected final int index;
    protected final SplitQueue queue;
    protected final IoThread thread;
    protected final VirtioInterrupt irq;
    /** Native memory of the worker (iovec arrays...); closed once the worker has stopped. */
    protected final Arena arena = Arena.ofShared();
    private final KickWatch kick;
    private R[] requests;
    private int[] free;
    private int freeTop;
    private boolean broken;
    private boolean stopping;
    private boolean draining;
    private boolean finished;
    private boolean starved;
    private boolean notifyScheduled;
    private CompletableFuture<Void> stopped;
    private CompletableFuture<Void> drained;

    protected QueueWorker(int index, SplitQueue queue, IoThread thread, VirtioInterrupt irq, int kickFd) {
        this.index = index;
        this.queue = queue;
        this.thread = thread;
        this.irq = irq;
        this.kick = new KickWatch(thread, kickFd);
    }

    /** Creates the request pool, one slot per queue entry; the subclass constructor calls it once. */
    @SuppressWarnings("unchecked")
    protected final void createPool(IntFunction<R> newRequest) {
        int n = queue.size();
        requests = (R[]) new Request[n];
        free = new int[n];
        for (int i = 0; i < n; i++) {
            requests[i] = newRequest.apply(i);
            free[i] = n - 1 - i;
        }
        freeTop = n;
    }

    // ---- what a request queue defines --------------------------------------------------------

    /** Opens what the requests need (backend queues); on the I/O thread, before the first pop. */
    protected void open() { }

    /** Validates and starts (or answers) one popped request; false stops the pop loop (queue broken, or held back). */
    protected abstract boolean handle(R r);

    /** Whether no request is in flight (popped, not yet completed). */
    protected abstract boolean idle();

    /** Closes what {@link #open()} opened; called once, when stopped with nothing in flight. */
    protected abstract void close();

    /** Reports a broken queue (log line, statistics) and tells the transport: {@code irq.deviceNeedsReset}. */
    protected abstract void reportQueueError(String reason);

    /** True while the subclass holds the loop back (a throttled request waits for its budget). */
    protected boolean paused() { return false; }

    /** A stop was asked for (before the worker waits for requests in flight). */
    protected void onStop() { }

    /** A drain was asked for: what was held back must go now. */
    protected void onDrain() { }

    // ---- life cycle ------------------------------------------------------------------------

    /** On the I/O thread (the device calls it through {@link IoThread#runAndWait}). */
    public final void start() {
        open();
        kick.watch(this::process);
        process(); // the driver may have queued (and kicked) before DRIVER_OK reached us
    }

    /** Stops taking requests; the future completes once no request is in flight any more. */
    public final CompletableFuture<Void> stop() {
        return onThreadUnlessFinished(f -> {
            stopping = true;
            stopped = f;
            onStop();
            kick.unwatch();
            maybeFinishStop();
        });
    }

    /**
     * For a snapshot or migration (vCPUs paused): stops popping, lets every request in flight
     * complete to the used ring, signals the driver, then stops as {@link #stop()} does. Nothing is
     * held afterwards.
     */
    public final CompletableFuture<Void> drain() {
        return onThreadUnlessFinished(f -> {
            draining = true;
            drained = f;
            kick.unwatch();
            onDrain();
            maybeFinishDrain();
        });
    }

    /** Runs {@code step} with a new future on the I/O thread; a worker already stopped completes it at once. */
    private CompletableFuture<Void> onThreadUnlessFinished(java.util.function.Consumer<CompletableFuture<Void>> step) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        thread.execute(() -> {
            if (finished) f.complete(null);
            else step.accept(f);
        });
        return f;
    }

    private void maybeFinishDrain() {
        if (!draining || drained == null || !idle()) return;
        notifyScheduled = false;
        if (!broken && !stopping) { // signal now: the round-end notification would find the queue stopped
            try {
                if (queue.needsNotification()) irq.signalUsedBuffer(index);
            } catch (QueueException e) {
                queueError(e.getMessage());
            }
        }
        stopping = true;
        stopped = drained;
        drained = null;
        maybeFinishStop();
    }

    private void maybeFinishStop() {
        if (stopping && stopped != null && idle()) {
            close();
            arena.close();
            finished = true;
            CompletableFuture<Void> f = stopped;
            stopped = null;
            f.complete(null);
        }
    }

    // ---- the pop loop and completions --------------------------------------------------------

    /** Pops and handles what the driver made available, as long as slots are free. */
    protected final void process() {
        if (broken || stopping || draining || paused()) return;
        try {
            do {
                queue.disableNotification();
                while (true) {
                    if (freeTop == 0) {
                        starved = true; // more chains than the queue size in flight: a driver bug; wait for completions
                        return;
                    }
                    R r = requests[free[freeTop - 1]];
                    if (!queue.pop(r.chain)) break;
                    freeTop--;
                    boolean go;
                    try {
                        go = handle(r);
                    } catch (RuntimeException e) { // a bug here must not kill the I/O thread or hang the guest
                        queueError("request " + r.chain.head() + " failed: " + e);
                        return;
                    }
                    if (!go) return;
                }
                // Kicks stay off while requests are in flight (KickPolicy): afterCompletions looks again.
            } while ((!KickPolicy.PICK_UP_ON_COMPLETION || freeTop == requests.length) && queue.enableNotification());
        } catch (QueueException e) {
            queueError(e.getMessage());
        }
    }

    /** The request in pool slot {@code slot} (completion tokens are slots). */
    protected final R request(int slot) { return requests[slot]; }

    /**
     * Frees {@code r}'s slot and returns its chain to the driver: {@code answer} written at
     * {@code at} bytes into the chain's writable part, {@code usedLen} bytes reported used, the
     * notification scheduled for the end of this round. False (nothing written) when the queue is
     * broken or stopping, or the chain could not be completed (the queue is then broken).
     */
    protected final boolean complete(R r, long at, byte[] answer, int usedLen) {
        free[freeTop++] = r.slot;
        if (broken || stopping) return false; // the queue belongs to nobody now; the driver will reset
        DescriptorChain c = r.chain;
        try {
            c.writeToChain(at, answer);
            queue.addUsed(c.head(), usedLen);
        } catch (QueueException e) {
            queueError(e.getMessage());
            return false;
        } catch (RuntimeException e) {
            queueError("completing request " + c.head() + ": " + e.getMessage());
            return false;
        }
        if (!notifyScheduled) {
            notifyScheduled = true;
            thread.atRoundEnd(afterCompletionsTask);
        }
        return true;
    }

    /**
     * After a request that was in flight completed: finishes a stop or drain that waited for it,
     * or resumes a loop that ran out of slots.
     */
    protected final void requestDone() {
        if (stopping) {
            maybeFinishStop();
        } else if (draining) {
            maybeFinishDrain();
        } else if (starved) {
            starved = false;
            process();
        }
    }

    /** One instance: a method reference at the call site allocated once per completion round (JFR, issue #19). */
    private final Runnable afterCompletionsTask = this::afterCompletions;

    /** End of a round with completions: start what the driver queued meanwhile, then interrupt it once. */
    private void afterCompletions() {
        if (KickPolicy.PICK_UP_ON_COMPLETION && !starved) process();
        notifyDriver();
    }

    private void notifyDriver() {
        notifyScheduled = false;
        if (broken || stopping) return;
        try {
            if (queue.needsNotification()) irq.signalUsedBuffer(index);
        } catch (QueueException e) {
            queueError(e.getMessage());
        }
    }

    /** Breaks the queue (once): it is left alone until the device is reset. */
    protected final void queueError(String reason) {
        if (broken) return;
        broken = true;
        reportQueueError(reason);
    }

    protected final boolean isBroken() { return broken; }

    protected final boolean isStopping() { return stopping; }
}
