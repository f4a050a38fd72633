package dev.vmm.ffm.uring;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.concurrent.TimeUnit;

import static dev.vmm.ffm.uring.IoUringConstants.*;
import static dev.vmm.ffm.uring.IoUringLayouts.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * An io_uring instance: the ring fd, its mapped submission and completion queues, and the
 * io_uring_enter/io_uring_register calls. A thin typed layer over the raw syscalls, in the spirit
 * of rust-vmm's kvm-ioctls and the {@code io-uring} crate; no liburing.
 *
 * <p>Intended use: one ring per I/O thread. The thread fills SQEs from
 * {@link #submissionQueue()}, calls {@link #submit()}, and reaps {@link #completionQueue()} when
 * the eventfd registered with {@link #registerEventfd} becomes readable in its epoll loop (or
 * blocks in {@link #submitAndWait}). Nothing on that path allocates. The ring is not thread-safe;
 * only the {@code register*}/{@link #probe()} calls may come from another thread.
 *
 * <p>Every failing syscall throws {@link NativeException} naming the call; a kernel or policy
 * that refuses io_uring altogether gives {@link IoUringUnavailableException}.
 */
public final class IoUring implements AutoCloseable {
    /** io_uring_setup flags this wrapper handles (SQE128/CQE32 change the entry sizes: not supported). */
    private static final int SUPPORTED_SETUP_FLAGS = IORING_SETUP_IOPOLL | IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF
            | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_R_DISABLED
            | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG
            | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    private static final long ARG_SIGMASK = offset(IO_URING_GETEVENTS_ARG, "sigmask");
    private static final long ARG_SIGMASK_SZ = offset(IO_URING_GETEVENTS_ARG, "sigmask_sz");
    private static final long ARG_TS = offset(IO_URING_GETEVENTS_ARG, "ts");
    private static final long TS_SEC = offset(KERNEL_TIMESPEC, "tv_sec");
    private static final long TS_NSEC = offset(KERNEL_TIMESPEC, "tv_nsec");
    /** The kernel's IORING_MAX_ENTRIES. */
    public static final int MAX_ENTRIES = 32768;

    private final int fd;
    private final int setupFlags;
    private final int features;
    /** Owns the ring mappings (munmap on close). Shared, so close() from another thread cannot crash a reader. */
    private final Arena arena;
    private final SubmissionQueue sq;
    private final CompletionQueue cq;
    /** Preallocated io_uring_getevents_arg + __kernel_timespec for timed waits. */
    private final MemorySegment waitArg;
    private final MemorySegment waitTimeout;
    private boolean closed;

    private IoUring(int fd, int setupFlags, int features, Arena arena, SubmissionQueue sq, CompletionQueue cq) {
        this.fd = fd;
        this.setupFlags = setupFlags;
        this.features = features;
        this.arena = arena;
        this.sq = sq;
        this.cq = cq;
        this.waitArg = arena.allocate(IO_URING_GETEVENTS_ARG);
        this.waitTimeout = arena.allocate(KERNEL_TIMESPEC);
    }

    /** A ring with {@code entries} SQEs (rounded up to a power of two by the kernel) and twice as many CQEs. */
    public static IoUring create(int entries, int flags) {
        return create(entries, flags, 0);
    }

    /**
     * A ring with {@code entries} SQEs and, when {@code cqEntries > 0}, that many CQEs
     * ({@code IORING_SETUP_CQSIZE} is then added to {@code flags}).
     *
     * @throws IoUringUnavailableException if the kernel or its policy refuses io_uring
     * @throws NativeException             for any other failure of io_uring_setup or mmap
     */
    public static IoUring create(int entries, int flags, int cqEntries) {
        if (entries < 1 || entries > MAX_ENTRIES) {
            throw new IllegalArgumentException("io_uring entries " + entries + " not in 1.." + MAX_ENTRIES);
        }
        if ((flags & ~SUPPORTED_SETUP_FLAGS) != 0) {
            throw new IllegalArgumentException("unsupported io_uring setup flags 0x"
                    + Integer.toHexString(flags & ~SUPPORTED_SETUP_FLAGS));
        }
        if (cqEntries < 0) throw new IllegalArgumentException("cqEntries " + cqEntries);
        if (cqEntries > 0) flags |= IORING_SETUP_CQSIZE;

        int fd;
        int sqEntries, cqCount, features;
        long[] sqOff = new long[7], cqOff = new long[7];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(IO_URING_PARAMS);
            p.set(JAVA_INT, offset(IO_URING_PARAMS, "flags"), flags);
            p.set(JAVA_INT, offset(IO_URING_PARAMS, "cq_entries"), cqEntries);
            long r = Libc.syscallRaw(Libc.SYS_IO_URING_SETUP, entries, p.address(), 0, 0, 0, 0);
            if (r < 0) {
                IoUringUnavailableException unavailable = IoUringUnavailableException.ofSetupError((int) -r);
                if (unavailable != null) throw unavailable;
                throw new NativeException("io_uring_setup", (int) -r);
            }
            fd = (int) r;
            sqEntries = p.get(JAVA_INT, offset(IO_URING_PARAMS, "sq_entries"));
            cqCount = p.get(JAVA_INT, offset(IO_URING_PARAMS, "cq_entries"));
            features = p.get(JAVA_INT, offset(IO_URING_PARAMS, "features"));
            String[] sqNames = {"head", "tail", "ring_mask", "ring_entries", "flags", "dropped", "array"};
            String[] cqNames = {"head", "tail", "ring_mask", "ring_entries", "overflow", "flags", "cqes"};
            for (int i = 0; i < 7; i++) {
                sqOff[i] = Integer.toUnsignedLong(p.get(JAVA_INT, offset(IO_URING_PARAMS, "sq_off", sqNames[i])));
                cqOff[i] = Integer.toUnsignedLong(p.get(JAVA_INT, offset(IO_URING_PARAMS, "cq_off", cqNames[i])));
            }
        }

        Arena rings = Arena.ofShared();
        try {
            long sqeSize = IO_URING_SQE.byteSize();
            long cqeSize = IO_URING_CQE.byteSize();
            long sqRingSize = sqOff[6] + 4L * sqEntries;
            long cqRingSize = cqOff[6] + cqeSize * cqCount;
            MemorySegment sqRing, cqRing;
            if ((features & IORING_FEAT_SINGLE_MMAP) != 0) {
                sqRing = map(fd, Math.max(sqRingSize, cqRingSize), IORING_OFF_SQ_RING, "rings", rings);
                cqRing = sqRing;
            } else {
                sqRing = map(fd, sqRingSize, IORING_OFF_SQ_RING, "SQ ring", rings);
                cqRing = map(fd, cqRingSize, IORING_OFF_CQ_RING, "CQ ring", rings);
            }
            MemorySegment sqes = map(fd, sqeSize * sqEntries, IORING_OFF_SQES, "SQE array", rings);
            // sq_off: head, tail, ring_mask, ring_entries, flags, dropped, array.
            SubmissionQueue sq = new SubmissionQueue(new MappedRing(sqRing, sqOff[0], sqOff[1], sqOff[2], sqOff[3], sqOff[4]),
                    sqes, sqOff[5], sqOff[6], sqeSize);
            // cq_off: head, tail, ring_mask, ring_entries, overflow, flags, cqes.
            CompletionQueue cq = new CompletionQueue(new MappedRing(cqRing, cqOff[0], cqOff[1], cqOff[2], cqOff[3], cqOff[5]),
                    cqOff[4], cqOff[6], cqeSize);
            return new IoUring(fd, flags, features, rings, sq, cq);
        } catch (RuntimeException | Error e) {
            rings.close();
            Libc.close(fd);
            throw e;
        }
    }

    /** mmap of one ring region, unmapped when {@code owner} closes. */
    private static MemorySegment map(int fd, long size, long offset, String what, Arena owner) {
        MemorySegment m;
        try {
            m = Libc.mmap(MemorySegment.NULL, size, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_SHARED | Libc.MAP_POPULATE, fd, offset);
        } catch (NativeException e) {
            throw new NativeException("mmap of the io_uring " + what, e.errno());
        }
        return m.reinterpret(owner, Libc::munmap);
    }

    public int fd() { return fd; }

    /** The io_uring_setup flags the ring was created with. */
    public int setupFlags() { return setupFlags; }

    /** {@code IORING_FEAT_*} bits the kernel reported. */
    public int features() { return features; }

    public boolean hasFeature(int feature) { return (features & feature) == feature; }

    public SubmissionQueue submissionQueue() { return sq; }

    public CompletionQueue completionQueue() { return cq; }

    // --- io_uring_enter ---------------------------------------------------------------------

    /**
     * Publishes the filled SQEs and tells the kernel about them; returns how many it consumed.
     * Does not wait. With SQPOLL it only wakes the kernel thread when that one sleeps.
     */
    public int submit() {
        int toSubmit = sq.flush();
        if (sqPoll()) {
            if (sq.sqPollNeedsWakeup()) enter(0, 0, IORING_ENTER_SQ_WAKEUP, 0, 0);
            return toSubmit;
        }
        // Overflowed CQEs and deferred task work only reach the CQ ring when we enter with GETEVENTS.
        int flags = (sq.ringFlags() & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0 || deferTaskrun()
                ? IORING_ENTER_GETEVENTS : 0;
        if (toSubmit == 0 && flags == 0) return 0;
        int submitted;
        do {
            submitted = enter(toSubmit, 0, flags, 0, 0);
        } while (submitted == -Errno.EINTR);
        return checkEnter(submitted);
    }

    /**
     * Submits, then blocks until at least {@code waitNr} CQEs are ready (0 = just flush pending
     * completions into the CQ ring); returns how many SQEs the kernel consumed. Signals (EINTR)
     * restart the wait.
     */
    public int submitAndWait(int waitNr) {
        checkWaitNr(waitNr);
        int submitted = 0;
        while (true) {
            int toSubmit = sq.flush();
            int flags = IORING_ENTER_GETEVENTS | (sqPoll() && sq.sqPollNeedsWakeup() ? IORING_ENTER_SQ_WAKEUP : 0);
            int r = enter(sqPoll() ? 0 : toSubmit, waitNr, flags, 0, 0);
            if (r == -Errno.EINTR) continue;
            submitted += checkEnter(r);
            // The kernel returns the submission count even when the wait was cut short.
            if (cq.ready() >= waitNr) return sqPoll() ? toSubmit : submitted;
        }
    }

    /**
     * Like {@link #submitAndWait(int)}, but gives up after {@code timeout}; returns whether
     * {@code waitNr} CQEs are ready. Needs {@code IORING_FEAT_EXT_ARG} (Linux 5.11).
     */
    public boolean submitAndWait(int waitNr, long timeout, TimeUnit unit) {
        checkWaitNr(waitNr);
        if (!hasFeature(IORING_FEAT_EXT_ARG)) {
            throw new UnsupportedOperationException("io_uring timed waits need IORING_FEAT_EXT_ARG (Linux 5.11+)");
        }
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        waitArg.set(JAVA_LONG, ARG_SIGMASK, 0L);
        waitArg.set(JAVA_INT, ARG_SIGMASK_SZ, 8);
        waitArg.set(JAVA_LONG, ARG_TS, waitTimeout.address());
        while (true) {
            long left = Math.max(0, deadline - System.nanoTime());
            waitTimeout.set(JAVA_LONG, TS_SEC, left / 1_000_000_000L);
            waitTimeout.set(JAVA_LONG, TS_NSEC, left % 1_000_000_000L);
            int toSubmit = sq.flush();
            int flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG
                    | (sqPoll() && sq.sqPollNeedsWakeup() ? IORING_ENTER_SQ_WAKEUP : 0);
            int r = enter(sqPoll() ? 0 : toSubmit, waitNr, flags, waitArg.address(), waitArg.byteSize());
            if (r != -Errno.EINTR && r != -Errno.ETIME) checkEnter(r);
            if (cq.ready() >= waitNr) return true;
            if (left == 0) return false;
        }
    }

    private void checkWaitNr(int waitNr) {
        if (waitNr < 0 || waitNr > cq.entries()) {
            throw new IllegalArgumentException("cannot wait for " + waitNr + " CQEs with " + cq.entries() + " CQ entries");
        }
    }

    private boolean sqPoll() { return (setupFlags & IORING_SETUP_SQPOLL) != 0; }

    private boolean deferTaskrun() { return (setupFlags & IORING_SETUP_DEFER_TASKRUN) != 0; }

    /** io_uring_enter; returns the result or {@code -errno}. */
    private int enter(int toSubmit, int minComplete, int flags, long arg, long argSize) {
        return (int) Libc.syscallRaw(Libc.SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, arg, argSize);
    }

    private static int checkEnter(int r) {
        if (r < 0) throw new NativeException("io_uring_enter", -r);
        return r;
    }

    // --- io_uring_register ------------------------------------------------------------------

    /** The kernel signals {@code eventfd} whenever it posts a CQE; an I/O thread puts that fd in its epoll set. */
    public void registerEventfd(int eventfd) {
        registerInt("IORING_REGISTER_EVENTFD", IORING_REGISTER_EVENTFD, eventfd);
    }

    /** Like {@link #registerEventfd}, but only for completions that did not finish inline at submission. */
    public void registerEventfdAsync(int eventfd) {
        registerInt("IORING_REGISTER_EVENTFD_ASYNC", IORING_REGISTER_EVENTFD_ASYNC, eventfd);
    }

    public void unregisterEventfd() {
        register("IORING_UNREGISTER_EVENTFD", IORING_UNREGISTER_EVENTFD, MemorySegment.NULL, 0);
    }

    /**
     * Registers fixed files: SQEs with {@code IOSQE_FIXED_FILE} then give an index into {@code fds}
     * instead of an fd, which spares the kernel an fd lookup per request. -1 leaves a slot empty.
     */
    public void registerFiles(int... fds) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocateFrom(JAVA_INT, fds);
            register("IORING_REGISTER_FILES", IORING_REGISTER_FILES, arr, fds.length);
        }
    }

    /**
     * Replaces registered files from slot {@code offset} on ({@code -1} empties a slot,
     * {@link IoUringConstants#IORING_REGISTER_FILES_SKIP} keeps it); returns how many were updated.
     */
    public int updateFiles(int offset, int... fds) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocateFrom(JAVA_INT, fds);
            MemorySegment up = a.allocate(IO_URING_RSRC_UPDATE);
            up.set(JAVA_INT, offset(IO_URING_RSRC_UPDATE, "offset"), offset);
            up.set(JAVA_LONG, offset(IO_URING_RSRC_UPDATE, "data"), arr.address());
            return register("IORING_REGISTER_FILES_UPDATE", IORING_REGISTER_FILES_UPDATE, up, fds.length);
        }
    }

    public void unregisterFiles() {
        register("IORING_UNREGISTER_FILES", IORING_UNREGISTER_FILES, MemorySegment.NULL, 0);
    }

    /**
     * Registers fixed buffers (pins their pages); {@code READ_FIXED}/{@code WRITE_FIXED} then name
     * buffer {@code i} by index. Guest RAM regions are the intended use. The segments must stay
     * mapped until {@link #unregisterBuffers()} or {@link #close()}.
     */
    public void registerBuffers(MemorySegment... buffers) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(Libc.IOVEC, buffers.length);
            for (int i = 0; i < buffers.length; i++) {
                MemorySegment b = buffers[i];
                if (!b.isNative()) throw new IllegalArgumentException("buffer " + i + " is a heap segment; io_uring needs native memory");
                iov.set(JAVA_LONG, i * Libc.IOVEC.byteSize(), b.address());
                iov.set(JAVA_LONG, i * Libc.IOVEC.byteSize() + 8, b.byteSize());
            }
            register("IORING_REGISTER_BUFFERS", IORING_REGISTER_BUFFERS, iov, buffers.length);
        }
    }

    public void unregisterBuffers() {
        register("IORING_UNREGISTER_BUFFERS", IORING_UNREGISTER_BUFFERS, MemorySegment.NULL, 0);
    }

    /**
     * Starts a ring created with {@code IORING_SETUP_R_DISABLED} (which lets restrictions or
     * registrations be set up before any SQE is accepted); until then io_uring_enter fails with EBADFD.
     */
    public void enableRings() {
        register("IORING_REGISTER_ENABLE_RINGS", IORING_REGISTER_ENABLE_RINGS, MemorySegment.NULL, 0);
    }

    /** Which opcodes the running kernel supports (IORING_REGISTER_PROBE, Linux 5.6+). */
    public IoUringProbe probe() {
        int maxOps = 256; // opcodes are a u8
        try (Arena a = Arena.ofConfined()) {
            long opSize = IO_URING_PROBE_OP.byteSize();
            MemorySegment p = a.allocate(IO_URING_PROBE.byteSize() + opSize * maxOps, 8);
            register("IORING_REGISTER_PROBE", IORING_REGISTER_PROBE, p, maxOps);
            int lastOp = Byte.toUnsignedInt(p.get(JAVA_BYTE, offset(IO_URING_PROBE, "last_op")));
            int opsLen = Byte.toUnsignedInt(p.get(JAVA_BYTE, offset(IO_URING_PROBE, "ops_len")));
            BitSet supported = new BitSet();
            for (int i = 0; i < opsLen; i++) {
                long at = IO_URING_PROBE.byteSize() + i * opSize;
                int op = Byte.toUnsignedInt(p.get(JAVA_BYTE, at + offset(IO_URING_PROBE_OP, "op")));
                short flags = p.get(JAVA_SHORT, at + offset(IO_URING_PROBE_OP, "flags"));
                if ((flags & IO_URING_OP_SUPPORTED) != 0) supported.set(op);
            }
            return new IoUringProbe(lastOp, supported);
        }
    }

    private void registerInt(String name, int opcode, int value) {
        try (Arena a = Arena.ofConfined()) {
            register(name, opcode, a.allocateFrom(JAVA_INT, value), 1);
        }
    }

    /** io_uring_register, restarted on EINTR; throws {@link NativeException} naming the opcode. */
    private int register(String name, int opcode, MemorySegment arg, int nrArgs) {
        if (closed) throw new IllegalStateException("io_uring is closed");
        long r;
        do {
            r = Libc.syscallRaw(Libc.SYS_IO_URING_REGISTER, fd, opcode, arg.address(), nrArgs, 0, 0);
        } while (r == -Errno.EINTR);
        if (r < 0) throw new NativeException("io_uring_register(" + name + ")", (int) -r);
        return (int) r;
    }

    /**
     * Unmaps the rings and closes the fd; the kernel cancels what is still in flight. Buffers of
     * cancelled reads must stay valid until then, so close before freeing them. Idempotent.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            arena.close();
        } finally {
            Libc.close(fd);
        }
    }
}
