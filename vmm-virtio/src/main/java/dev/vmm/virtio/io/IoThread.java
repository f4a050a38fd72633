package dev.vmm.virtio.io;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.ffm.uring.IoUring;
import dev.vmm.ffm.uring.Sqe;
import org.jctools.queues.MpscUnboundedXaddArrayQueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One platform thread running an event loop for virtio data planes (Cloud Hypervisor's and
 * QEMU's "iothread"): an epoll set of eventfds (guest kicks, bound by the VMM to KVM ioeventfds),
 * one io_uring whose completion eventfd is in the same set, timers, and a cross-thread task queue.
 *
 * <p>Loop: {@code epoll_wait} (timeout = the earliest timer) → run the handlers of the ready fds
 * and the due timers (they fill SQEs with {@link #nextSqe()}) → one {@code io_uring_enter} for all
 * SQEs filled in that round (batching). Completions are drained from the CQ and dispatched by the
 * 16-bit target index in the top of {@code user_data} to a {@link CompletionTarget}.
 *
 * <p>Threading: {@link #execute}, {@link #runAndWait}, {@link #start} and {@link #close} are
 * thread-safe; everything else ({@link #addFd}, {@link #removeFd}, {@link #nextSqe},
 * {@link #addTarget}, {@link #schedule}) only on this thread (or before {@link #start}). Other
 * threads hand work over with {@link #execute}: an MPSC queue plus an eventfd write to wake the loop.
 * Handlers must never block; an exception from one is logged and the loop carries on.
 */
public final class IoThread implements AutoCloseable {
    /** Bits of user_data below the target index. */
    private static final int TOKEN_BITS = 48;
    private static final long TOKEN_MASK = (1L << TOKEN_BITS) - 1;
    private static final int MAX_EVENTS = 64;
    private static final long EPOLL_EVENT_SIZE = Libc.EPOLL_EVENT.byteSize();
    /** epoll_event.data: a u64 at offset 4 (the struct is packed on x86-64). A constant, not made per event. */
    private static final ValueLayout.OfLong EPOLL_DATA = ValueLayout.JAVA_LONG.withByteAlignment(4);

    private final String name;
    private final IoUring ring;
    private final int epfd;
    private final int wakeFd;
    private final int completionFd;
    /** One instance for the loop: a method reference written in the loop would be a new object per round. */
    private final Runnable reap = this::reapCompletions;
    /** The same for the CQE handler: {@code drain(this::dispatch)} allocated once per reaping round (JFR, issue #19). */
    private final dev.vmm.ffm.uring.CompletionHandler dispatcher = this::dispatch;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment events;
    private final MemorySegment eventfdBuf;
    private final MpscUnboundedXaddArrayQueue<Runnable> tasks = new MpscUnboundedXaddArrayQueue<>(64);
    private final List<Runnable> fdHandlers = new ArrayList<>();
    private final List<Integer> fdOfHandler = new ArrayList<>();
    private final List<CompletionTarget> targets = new ArrayList<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>();
    private final java.util.ArrayDeque<Runnable> roundEnd = new java.util.ArrayDeque<>();
    private final Thread thread;
    private volatile boolean stopping;
    private volatile boolean started;
    private long timerSeq;
    private final Consumer<String> log;
    /**
     * How long the loop spins for more work after a busy round before it sleeps in epoll_wait
     * ({@code -Dvmm.io.pollMicros}, e.g. 50 as QEMU's default poll-max-ns of 32 µs; default 0 = off).
     * Off by default: on a host with more runnable threads than CPUs the spin takes CPU time from
     * the vCPU threads and measured 20 % slower (benchmarks/blk/run.sh, runner vmm-poll).
     */
    private final long pollNanos;
    /**
     * Guest RAM registered with the ring as fixed buffers (docs/io-uring-fixed-buffers.md); read
     * only on this thread, replaced only on this thread ({@link #registerFixedBuffers}).
     */
    private dev.vmm.virtio.io.fixed.RegisteredBuffers fixedBuffers = dev.vmm.virtio.io.fixed.RegisteredBuffers.NONE;

    private record Timer(long deadline, long seq, Runnable task) implements Comparable<Timer> {
        @Override
        public int compareTo(Timer o) {
            int c = Long.compare(deadline - o.deadline, 0);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    /** A thread named {@code name} with an io_uring of {@code ringEntries} SQEs; not started yet. */
    public IoThread(String name, int ringEntries) {
        this(name, ringEntries, msg -> System.err.println(msg));
    }

    /** As {@link #IoThread(String, int)}, with a sink for the one-line errors handlers raise. */
    public IoThread(String name, int ringEntries, Consumer<String> log) {
        this(name, ringEntries, log, Long.getLong("vmm.io.pollMicros", 0) * 1000);
    }

    /** With an explicit polling window ({@code pollNanos}, 0 = never spin). */
    IoThread(String name, int ringEntries, Consumer<String> log, long pollNanos) {
        this.pollNanos = Math.max(0, pollNanos);
        this.name = name;
        this.log = log;
        this.ring = IoUring.create(ringEntries, 0);
        int ep = -1, wake = -1, comp = -1;
        try {
            ep = Libc.epollCreate1(Libc.EPOLL_CLOEXEC);
            wake = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
            comp = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
            ring.registerEventfd(comp);
        } catch (RuntimeException e) {
            for (int fd : new int[] {ep, wake, comp}) if (fd >= 0) Libc.close(fd);
            ring.close();
            throw e;
        }
        this.epfd = ep;
        this.wakeFd = wake;
        this.completionFd = comp;
        this.events = arena.allocate(EPOLL_EVENT_SIZE * MAX_EVENTS, 8);
        this.eventfdBuf = arena.allocate(8, 8);
        addFd(wakeFd, this::runTasks);
        addFd(completionFd, reap);
        this.thread = dev.vmm.threads.VmmThreads.unstarted(dev.vmm.threads.ThreadKind.IO, name, this::loop);
    }

    public String name() { return name; }

    /** The ring, for opcode probing and fixed resources; SQEs only via {@link #nextSqe()}. */
    public IoUring ring() { return ring; }

    public boolean isCurrentThread() { return Thread.currentThread() == thread; }

    // ---- fixed buffers (io_uring registered buffers over guest RAM) ------------------------

    /**
     * Registers {@code regions} (guest RAM mappings) as the ring's fixed buffers, replacing any
     * earlier registration, on this thread; a memory change re-registers through here. The kernel
     * pins the pages (counted against RLIMIT_MEMLOCK without CAP_IPC_LOCK): when it refuses, the
     * ring keeps no fixed buffers and the exception says why; requests then take the plain path.
     */
    public void registerFixedBuffers(List<MemorySegment> regions) {
        dev.vmm.virtio.io.fixed.RegisteredBuffers table = dev.vmm.virtio.io.fixed.RegisteredBuffers.of(regions);
        runAndWait(() -> {
            dropFixedBuffers();
            if (table.count() == 0) return;
            ring.registerBuffers(table.buffers().toArray(MemorySegment[]::new));
            fixedBuffers = table;
        });
    }

    /** Drops the fixed buffers (requests in flight on them complete normally: the kernel holds its own reference). */
    public void unregisterFixedBuffers() {
        runAndWait(this::dropFixedBuffers);
    }

    private void dropFixedBuffers() {
        if (fixedBuffers.count() == 0) return;
        fixedBuffers = dev.vmm.virtio.io.fixed.RegisteredBuffers.NONE;
        ring.unregisterBuffers();
    }

    /**
     * The registered buffer holding {@code [address, address + length)}, or -1: a request's fixed or
     * plain path. Call on this thread (where requests are submitted).
     */
    public int fixedBufferIndex(long address, long length) {
        return fixedBuffers.indexOf(address, length);
    }

    public synchronized void start() {
        if (!started) {
            started = true;
            thread.start();
        }
    }

    // ---- fds, completion targets, timers (on this thread) --------------------------------

    /** Calls {@code onReadable} whenever {@code fd} (an eventfd, typically) becomes readable. */
    public void addFd(int fd, Runnable onReadable) {
        int idx = fdHandlers.indexOf(null);
        if (idx < 0) {
            idx = fdHandlers.size();
            fdHandlers.add(onReadable);
            fdOfHandler.add(fd);
        } else {
            fdHandlers.set(idx, onReadable);
            fdOfHandler.set(idx, fd);
        }
        Libc.epollCtl(epfd, Libc.EPOLL_CTL_ADD, fd, Libc.EPOLLIN, idx);
    }

    /** Stops watching {@code fd}. */
    public void removeFd(int fd) {
        int idx = fdOfHandler.indexOf(fd);
        if (idx < 0) return;
        fdHandlers.set(idx, null);
        fdOfHandler.set(idx, -1);
        Libc.epollCtl(epfd, Libc.EPOLL_CTL_DEL, fd, 0, 0);
    }

    /** Registers a completion receiver; returns its index for {@link #userData}. */
    public int addTarget(CompletionTarget target) {
        int idx = targets.indexOf(null);
        if (idx < 0) {
            if (targets.size() == 0xFFFF) throw new IllegalStateException("too many completion targets");
            targets.add(target);
            return targets.size() - 1;
        }
        targets.set(idx, target);
        return idx;
    }

    /** Forgets a target; completions still arriving for it are dropped. */
    public void removeTarget(int index) {
        targets.set(index, null);
    }

    /** The user_data that routes a CQE to {@code target} with {@code token} (48 bits). */
    public static long userData(int target, long token) {
        return ((long) target << TOKEN_BITS) | (token & TOKEN_MASK);
    }

    /**
     * A free SQE, or {@code null} only if the kernel holds every slot even after a submit and a
     * wait for one completion (should not happen). It is submitted at the end of this loop round.
     */
    public Sqe nextSqe() {
        Sqe sqe = ring.submissionQueue().next();
        if (sqe != null) return sqe;
        ring.submit();
        sqe = ring.submissionQueue().next();
        if (sqe != null) return sqe;
        ring.submitAndWait(1);
        return ring.submissionQueue().next();
    }

    /** Runs {@code task} on this thread once {@link System#nanoTime()} reaches {@code deadlineNanos}. */
    public void schedule(long deadlineNanos, Runnable task) {
        timers.add(new Timer(deadlineNanos, timerSeq++, task));
    }

    /**
     * Runs {@code task} at the end of the current loop round, after every ready fd and due timer
     * has been handled and before the batched submit: devices use it to send one interrupt per
     * batch of completions instead of one per request. On this thread only.
     */
    public void atRoundEnd(Runnable task) {
        roundEnd.add(task);
    }

    // ---- cross-thread --------------------------------------------------------------------

    /** Runs {@code task} on this thread soon (thread-safe; wakes the loop). */
    public void execute(Runnable task) {
        tasks.offer(task);
        wake();
    }

    /**
     * Runs {@code task} on this thread soon (thread-safe) and completes the returned future with
     * its result, or with what it threw. How a worker is stopped from another thread.
     */
    public <T> CompletableFuture<T> submit(java.util.function.Supplier<T> task) {
        CompletableFuture<T> f = new CompletableFuture<>();
        execute(() -> {
            try {
                f.complete(task.get());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /**
     * Runs {@code task} on this thread and waits for it (inline when called on this thread, or
     * when the thread has not started or has stopped). Rethrows what the task threw.
     */
    public void runAndWait(Runnable task) {
        if (isCurrentThread() || !started || !thread.isAlive()) {
            task.run();
            return;
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        execute(() -> {
            try {
                task.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        try {
            done.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(name + ": interrupted waiting for the I/O thread");
        } catch (TimeoutException e) {
            throw new IllegalStateException(name + ": the I/O thread did not answer within 60 s");
        }
    }

    private void wake() {
        Libc.eventfdSignal(wakeFd);
    }

    // ---- the loop ------------------------------------------------------------------------

    private void loop() {
        boolean busy = false;
        while (!stopping) {
            int timeout = timeoutMs();
            int n = -1;
            boolean completionsReady = false;
            if (busy && timeout != 0 && pollNanos > 0) {
                // Adaptive polling (QEMU's iothread poll-max-ns): right after a round with work,
                // spin briefly for the next kick or completion instead of sleeping. A sleeping
                // thread must be woken and scheduled again, which on a busy host costs far more
                // than the request itself; the spin ends at the first event or after pollNanos.
                long end = System.nanoTime() + pollNanos;
                do {
                    if (ring.completionQueue().ready() > 0) {
                        completionsReady = true;
                        n = 0;
                        break;
                    }
                    n = Libc.epollWaitRaw(epfd, events, MAX_EVENTS, 0);
                    if (n != 0) break;
                    n = -1;
                    Thread.onSpinWait();
                } while (System.nanoTime() - end < 0);
            }
            if (n < 0) n = Libc.epollWaitRaw(epfd, events, MAX_EVENTS, timeout);
            if (n < 0) {
                if (n == -4) continue; // EINTR
                log.accept(name + ": epoll_wait failed: " + Libc.strerror(-n));
                return;
            }
            busy = n > 0 || completionsReady;
            if (completionsReady) safely(reap);
            for (int i = 0; i < n; i++) {
                long idx = events.get(EPOLL_DATA, i * EPOLL_EVENT_SIZE + 4);
                Runnable h = idx < fdHandlers.size() ? fdHandlers.get((int) idx) : null;
                if (h != null) safely(h);
            }
            runTimers();
            Runnable r;
            while ((r = roundEnd.poll()) != null) safely(r);
            submitPending();
        }
    }

    private int timeoutMs() {
        if (!tasks.isEmpty()) return 0;
        Timer t = timers.peek();
        if (t == null) return -1;
        long wait = t.deadline - System.nanoTime();
        if (wait <= 0) return 0;
        return (int) Math.min(Integer.MAX_VALUE, (wait + 999_999) / 1_000_000);
    }

    private void runTimers() {
        long now = System.nanoTime();
        Timer t;
        while ((t = timers.peek()) != null && t.deadline - now <= 0) {
            timers.poll();
            safely(t.task);
        }
    }

    private void submitPending() {
        if (ring.submissionQueue().unpublished() > 0) {
            try {
                ring.submit();
            } catch (NativeException e) {
                log.accept(name + ": " + e.getMessage());
            }
        }
    }

    private void runTasks() {
        drainEventfd(wakeFd);
        Runnable r;
        while ((r = tasks.poll()) != null) safely(r);
    }

    private void reapCompletions() {
        drainEventfd(completionFd);
        // Dispatching may submit new SQEs (a retried request); keep reaping while CQEs appear.
        while (ring.completionQueue().drain(dispatcher) > 0) {
            submitPending();
        }
    }

    private void dispatch(long userData, int res, int flags) {
        int idx = (int) (userData >>> TOKEN_BITS);
        CompletionTarget t = idx < targets.size() ? targets.get(idx) : null;
        if (t == null) return;
        try {
            t.onCompletion(userData & TOKEN_MASK, res);
        } catch (RuntimeException e) {
            log.accept(name + ": completion handler failed: " + e);
        }
    }

    private void drainEventfd(int fd) {
        Libc.readRaw(fd, eventfdBuf, 8);
    }

    private void safely(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            log.accept(name + ": handler failed: " + e);
        }
    }

    /** Stops the loop, joins the thread and releases the ring and fds. */
    @Override
    public void close() {
        if (started && thread.isAlive()) {
            stopping = true;
            wake();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        ring.close();
        Libc.close(epfd);
        Libc.close(wakeFd);
        Libc.close(completionFd);
        arena.close();
    }
}
