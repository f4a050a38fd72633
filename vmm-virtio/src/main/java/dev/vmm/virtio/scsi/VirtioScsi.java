package dev.vmm.virtio.scsi;

import dev.vmm.memory.GuestMemory;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.QueueDevice;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Consumer;

/**
 * The virtio SCSI host device (type 8, virtio 1.x §5.6): one target (id 0) whose logical units are
 * the disks of a {@link ScsiTarget} (LUN i = disk i). Queue 0 is the control queue (task management
 * and asynchronous-notification requests), queue 1 the event queue, queues 2.. the request queues.
 *
 * <p>Threads: control and event queues are served on I/O thread 0, request queue {@code i} (virtio
 * index 2+i) on thread {@code i mod M}. Commands that touch a disk (reads, writes, flushes,
 * unmaps) run on a small worker pool, and their completion is handed back to the queue's I/O
 * thread with {@link IoThread#execute}, so an I/O thread never blocks on a disk; other commands
 * (INQUIRY, MODE SENSE...) are answered inline.
 *
 * <p>Wiring: {@link #queueEventFd(int)} for KVM_IOEVENTFD on each queue's notify address (one per
 * virtio queue, control and event included), one MSI-X vector per queue via the transport's
 * {@link VirtioInterrupt}. The device owns its worker pool and eventfds, not the target's disks or
 * the I/O threads.
 */
public final class VirtioScsi extends QueueDevice {
    // Feature bits (virtio 1.x §5.6.3).
    public static final long VIRTIO_SCSI_F_INOUT = 1L << 0;
    public static final long VIRTIO_SCSI_F_HOTPLUG = 1L << 1;
    public static final long VIRTIO_SCSI_F_CHANGE = 1L << 2;
    public static final long VIRTIO_SCSI_F_T10_PI = 1L << 3;

    // Response codes (§5.6.6).
    public static final int S_OK = 0;
    /** Task management: done (same value as OK). */
    public static final int S_FUNCTION_COMPLETE = 0;
    public static final int S_OVERRUN = 1;
    public static final int S_ABORTED = 2;
    public static final int S_BAD_TARGET = 3;
    public static final int S_RESET = 4;
    public static final int S_BUSY = 5;
    public static final int S_TRANSPORT_FAILURE = 6;
    public static final int S_TARGET_FAILURE = 7;
    public static final int S_NEXUS_FAILURE = 8;
    public static final int S_FAILURE = 9;
    public static final int S_FUNCTION_SUCCEEDED = 10;
    public static final int S_FUNCTION_REJECTED = 11;
    public static final int S_INCORRECT_LUN = 12;

    // Control queue request types and TMF subtypes.
    public static final int T_TMF = 0;
    public static final int T_AN_QUERY = 1;
    public static final int T_AN_SUBSCRIBE = 2;
    public static final int TMF_ABORT_TASK = 0;
    public static final int TMF_ABORT_TASK_SET = 1;
    public static final int TMF_CLEAR_ACA = 2;
    public static final int TMF_CLEAR_TASK_SET = 3;
    public static final int TMF_I_T_NEXUS_RESET = 4;
    public static final int TMF_LOGICAL_UNIT_RESET = 5;
    public static final int TMF_QUERY_TASK = 6;
    public static final int TMF_QUERY_TASK_SET = 7;

    // Events.
    public static final int T_NO_EVENT = 0;
    public static final int T_TRANSPORT_RESET = 1;
    public static final int T_ASYNC_NOTIFY = 2;
    public static final int T_PARAM_CHANGE = 3;
    public static final int T_EVENTS_MISSED = 0x80000000;
    /** Reasons of a {@link #T_TRANSPORT_RESET} event (§5.6.6.3.1): a LUN appeared / went away. */
    public static final int EVT_RESET_HARD = 0;
    public static final int EVT_RESET_RESCAN = 1;
    public static final int EVT_RESET_REMOVED = 2;

    public static final int CONTROL_QUEUE = 0;
    public static final int EVENT_QUEUE = 1;
    public static final int FIRST_REQUEST_QUEUE = 2;

    public static final int DEFAULT_CDB_SIZE = 32;
    public static final int DEFAULT_SENSE_SIZE = 96;
    public static final int EVENT_INFO_SIZE = 16;
    /** virtio_scsi_config: num_queues .. max_lun. */
    public static final int CONFIG_SIZE = 36;
    /** lun[8], id, task_attr, prio, crn: the request header before the CDB. */
    static final int REQ_HEADER_FIXED = 19;
    /** sense_len, residual, status_qualifier, status, response: the response header before the sense. */
    static final int RESP_HEADER_FIXED = 12;

    private final ScsiTarget target;
    private final ScsiConfig config;
    private final long features;
    private final ExecutorService pool;
    /** Per LUN number, the asynchronous data path or null; a slot is cleared when its LUN is detached. Guarded by itself. */
    private final BlkBackend[] dataPaths;
    /** The disk each data path was made for: a command uses the data path only while that disk is the LUN. */
    private final ScsiDisk[] dataPathDisks;
    private volatile int cdbSize = DEFAULT_CDB_SIZE;
    private volatile int senseSize = DEFAULT_SENSE_SIZE;
    /** Commands handed to the pool and not yet in a used ring, per LUN (TMFs wait for them). */
    final AtomicIntegerArray lunInFlight;
    final AtomicInteger totalInFlight = new AtomicInteger();
    private final List<ScsiRequestWorker> requestWorkers = new ArrayList<>();
    private ScsiControlWorker control;
    /** Events a restore brought, handed to the control worker at activation. Guarded by this. */
    private ScsiControlWorker.Pending restoredEvents;
    /** Whether the driver negotiated VIRTIO_SCSI_F_HOTPLUG (then LUN changes are announced as events). */
    private volatile boolean hotplugEvents;
    /** device_del of a LUN waiting for that LUN's commands in flight to complete. Guarded by itself. */
    private final java.util.Map<Integer, List<CompletableFuture<Void>>> lunDrains = new java.util.HashMap<>();

    public VirtioScsi(ScsiTarget target, ScsiConfig config, List<IoThread> threads) {
        this(target, config, threads, List.of(), msg -> System.err.println(msg));
    }

    public VirtioScsi(ScsiTarget target, ScsiConfig config, List<IoThread> threads, Consumer<String> log) {
        this(target, config, threads, List.of(), log);
    }

    /**
     * @param target  the logical units
     * @param config  queue count and sizes
     * @param threads   the I/O threads (at least one; thread 0 also serves the control and event queues)
     * @param dataPaths empty, or one entry per LUN number (index = LUN; null where there is no LUN): an asynchronous backend over the same image as the
     *                  LUN's store (e.g. {@code UringRawBackend} for a raw file), used for READ and
     *                  WRITE, or null (that LUN's READ/WRITE run on the worker pool like the rest).
     *                  Not owned: the caller closes them after this device.
     * @param log       one-line messages (driver errors, slow resets)
     */
    public VirtioScsi(ScsiTarget target, ScsiConfig config, List<IoThread> threads, List<BlkBackend> dataPaths,
                      Consumer<String> log) {
        super("virtio-scsi", checkedQueueCount(target, config, threads, dataPaths), threads, log);
        this.dataPaths = dataPaths.toArray(new BlkBackend[0]);
        this.dataPathDisks = new ScsiDisk[this.dataPaths.length];
        for (int i = 0; i < this.dataPaths.length; i++) if (this.dataPaths[i] != null) dataPathDisks[i] = target.lun(i);
        this.target = target;
        this.config = config;
        // HOTPLUG: LUNs come and go at run time (QMP scsi-hd device_add/device_del), announced on the event queue.
        this.features = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX | VirtioFeatures.VIRTIO_F_INDIRECT_DESC
                | VIRTIO_SCSI_F_HOTPLUG;
        this.lunInFlight = new AtomicIntegerArray(ScsiTarget.MAX_LUN + 1); // any LUN may be plugged later
        this.pool = Executors.newFixedThreadPool(config.workers(),
                dev.vmm.threads.VmmThreads.factory(dev.vmm.threads.ThreadKind.BLOCK_WORKER, "scsi-worker-"));
    }

    /** Checks the data paths against the LUNs (before any eventfd is made); the virtqueue count. */
    private static int checkedQueueCount(ScsiTarget target, ScsiConfig config, List<IoThread> threads, List<BlkBackend> dataPaths) {
        if (threads.isEmpty()) throw new IllegalArgumentException("virtio-scsi needs at least one I/O thread");
        if (dataPaths.size() > ScsiTarget.MAX_LUN + 1) {
            throw new IllegalArgumentException(dataPaths.size() + " data paths, more than LUNs can exist");
        }
        for (int i = 0; i < dataPaths.size(); i++) {
            BlkBackend b = dataPaths.get(i);
            if (b == null) continue;
            ScsiDisk d = target.lun(i);
            if (d == null) throw new IllegalArgumentException("a data path for LUN " + i + ", which has no disk");
            if (b.size() < d.capacity() * d.blockSize() || (d.readOnly() && !b.readOnly())) {
                throw new IllegalArgumentException("LUN " + i + ": the data path (" + b.size() + " bytes"
                        + (b.readOnly() ? ", read-only" : "") + ") does not match the disk");
            }
        }
        return FIRST_REQUEST_QUEUE + config.numQueues();
    }

    // ---- VirtioDevice ------------------------------------------------------------------------

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.SCSI; }

    @Override public long deviceFeatures() { return features; }

    @Override public int queueCount() { return FIRST_REQUEST_QUEUE + config.numQueues(); }

    @Override public int queueMaxSize(int queueIndex) { return config.queueSize(); }

    @Override public int configSize() { return CONFIG_SIZE; }

    private byte[] configBytes() {
        MemorySegment c = MemorySegment.ofArray(new byte[CONFIG_SIZE]);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 0, config.numQueues());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 4, config.segMax());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 8, config.maxSectors());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 12, config.cmdPerLun());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 16, EVENT_INFO_SIZE);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 20, senseSize);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 24, cdbSize);
        c.set(ValueLayout.JAVA_SHORT_UNALIGNED, 28, (short) 0); // max_channel
        c.set(ValueLayout.JAVA_SHORT_UNALIGNED, 30, (short) 0); // max_target: one target, id 0
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 32, ScsiTarget.MAX_LUN); // max_lun: any LUN may be hot-plugged (QEMU's value too)
        return c.toArray(ValueLayout.JAVA_BYTE);
    }

    @Override
    public long readConfig(int offset, int size) {
        return dev.vmm.virtio.ConfigSpace.read(configBytes(), offset, size);
    }

    /**
     * Only sense_size and cdb_size are driver-writable (whole 32-bit stores). Values the device
     * cannot honour (sense ≥ 65536 bytes, CDB > 255 bytes or shorter than 6) are ignored.
     */
    @Override
    public void writeConfig(int offset, int size, long value) {
        if (size != 4) return;
        long v = value & 0xFFFFFFFFL;
        if (offset == 20 && v < 65536) senseSize = (int) v;
        if (offset == 24 && v >= 6 && v <= 255) cdbSize = (int) v;
    }

    @Override
    public synchronized void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues,
                                      VirtioInterrupt interrupt) throws ActivationException {
        checkActivation(queues, !requestWorkers.isEmpty() || control != null);
        hotplugEvents = (negotiatedFeatures & VIRTIO_SCSI_F_HOTPLUG) != 0;
        try {
            for (int i = FIRST_REQUEST_QUEUE; i < queues.size(); i++) {
                SplitQueue q = queues.get(i);
                if (!q.isReady()) continue;
                IoThread t = threadFor(i - FIRST_REQUEST_QUEUE);
                ScsiRequestWorker w = new ScsiRequestWorker(this, i, q, memory, t, interrupt, kicks.fd(i));
                requestWorkers.add(w);
                t.runAndWait(w::start);
            }
            if (requestWorkers.isEmpty()) throw new ActivationException("virtio-scsi: no request queue is ready");
            SplitQueue cq = queues.get(CONTROL_QUEUE), eq = queues.get(EVENT_QUEUE);
            control = new ScsiControlWorker(this, cq.isReady() ? cq : null, eq.isReady() ? eq : null, threads.get(0), interrupt,
                    kicks.fd(CONTROL_QUEUE), kicks.fd(EVENT_QUEUE));
            if (restoredEvents != null) {
                control.restorePending(restoredEvents);
                restoredEvents = null;
            }
            threads.get(0).runAndWait(control::start);
        } catch (RuntimeException e) {
            reset();
            throw new ActivationException("virtio-scsi: starting the queues: " + e.getMessage(), e);
        } catch (ActivationException e) {
            reset();
            throw e;
        }
    }

    @Override
    public synchronized void reset() {
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (ScsiRequestWorker w : requestWorkers) stops.add(w.stop());
        if (control != null) stops.add(control.stop());
        awaitStopped(stops, "reset", "quiesce");
        requestWorkers.clear();
        control = null;
        restoredEvents = null;
        cdbSize = DEFAULT_CDB_SIZE;
        senseSize = DEFAULT_SENSE_SIZE;
        kicks.forget(); // kicks of the old queues
    }

    // ---- saved state (MigratableDevice) -------------------------------------------------------

    /** Most events a saved state may carry (the control worker keeps at most this many). */
    private static final int MAX_SAVED_EVENTS = 64;

    @Override
    public int stateVersion() { return 2; }

    /**
     * Completes every command in flight to its used ring (request queues drained first, io_uring
     * data path included, so a parked task-management request can then be answered), stops the
     * queues and keeps the undelivered events for {@link #saveState}. Nothing is held: requests
     * are in flight until they complete, and an event buffer is only popped for an event.
     */
    @Override
    public synchronized int[] quiesce() {
        List<CompletableFuture<Void>> drains = new ArrayList<>();
        for (ScsiRequestWorker w : requestWorkers) drains.add(w.drain());
        awaitDrained(drains, "virtio-scsi: commands still in flight after 30 s; cannot save the device state");
        ScsiControlWorker.Pending pending = new ScsiControlWorker.Pending(List.of(), false);
        if (control != null) {
            try {
                pending = control.quiesce().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("virtio-scsi: the control queue did not stop within 30 s; cannot save the device state", e);
            }
        }
        requestWorkers.clear();
        control = null;
        restoredEvents = pending;
        kicks.forget(); // kicks of the old queues (every queue is notified at the restart)
        return new int[queueCount()];
    }

    /**
     * The driver-written config fields (sense_size, cdb_size), the events not yet delivered (with
     * the events-missed flag), and the LUNs' shape so a destination with other disks is refused:
     * per LUN its number (version 2: LUNs plugged at run time leave gaps), capacity in blocks, block
     * size and read-only.
     */
    @Override
    public synchronized byte[] saveState() {
        ScsiControlWorker.Pending p = restoredEvents != null ? restoredEvents : new ScsiControlWorker.Pending(List.of(), false);
        int[] numbers = target.lunNumbers();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + 4 + 4 + numbers.length * 17 + 1 + 4 + p.events().size() * 12);
        b.putInt(senseSize).putInt(cdbSize).putInt(numbers.length);
        for (int lun : numbers) {
            ScsiDisk d = target.lun(lun);
            b.putInt(lun).putLong(d.capacity()).putInt(d.blockSize()).put((byte) (d.readOnly() ? 1 : 0));
        }
        b.put((byte) (p.missed() ? 1 : 0)).putInt(p.events().size());
        for (int[] e : p.events()) b.putInt(e[0]).putInt(e[1]).putInt(e[2]);
        return b.array();
    }

    @Override
    public synchronized void loadState(int version, byte[] state) {
        if (version != 1 && version != 2) throw new IllegalArgumentException("virtio-scsi: saved state version " + version + ", this vmm reads 1 and 2");
        if (control != null || !requestWorkers.isEmpty()) throw new IllegalStateException("virtio-scsi: state loaded into an active device");
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(state);
        try {
            int sense = b.getInt(), cdb = b.getInt(), luns = b.getInt();
            if (luns != target.lunCount()) {
                throw new IllegalArgumentException("virtio-scsi: the saved device has " + luns + " LUNs, this one " + target.lunCount()
                        + " (start the destination with the same --scsi disks)");
            }
            int[] numbers = target.lunNumbers();
            for (int k = 0; k < luns; k++) {
                int i = version >= 2 ? b.getInt() : k; // version 1: LUN 0..n-1
                if (i != numbers[k]) {
                    throw new IllegalArgumentException("virtio-scsi: the saved device has LUN " + i + ", this one LUN " + numbers[k]
                            + " (start the destination with the same --scsi disks and lun=)");
                }
                long cap = b.getLong();
                int bs = b.getInt();
                boolean ro = b.get() != 0;
                ScsiDisk d = target.lun(i);
                if (cap != d.capacity() || bs != d.blockSize()) {
                    throw new IllegalArgumentException("virtio-scsi: the saved LUN " + i + " has " + cap + " blocks of " + bs + " bytes, this one "
                            + d.capacity() + " of " + d.blockSize() + " (not the same disk)");
                }
                if (ro != d.readOnly()) {
                    throw new IllegalArgumentException("virtio-scsi: the saved LUN " + i + " was " + (ro ? "read-only" : "read-write") + ", this one is not");
                }
            }
            boolean missed = b.get() != 0;
            int n = b.getInt();
            if (n < 0 || n > MAX_SAVED_EVENTS) throw new IllegalArgumentException("virtio-scsi: malformed saved state (" + n + " events)");
            List<int[]> events = new ArrayList<>();
            for (int i = 0; i < n; i++) events.add(new int[] {b.getInt(), b.getInt(), b.getInt()});
            if (b.hasRemaining()) throw new IllegalArgumentException("virtio-scsi: malformed saved state (" + b.remaining() + " trailing bytes)");
            if (sense < 0 || sense >= 65536 || cdb < 6 || cdb > 255) {
                throw new IllegalArgumentException("virtio-scsi: malformed saved state (sense size " + sense + ", CDB size " + cdb + ")");
            }
            senseSize = sense;
            cdbSize = cdb;
            restoredEvents = new ScsiControlWorker.Pending(List.copyOf(events), missed);
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("virtio-scsi: malformed saved state (" + state.length + " bytes, too short)");
        }
    }

    // ---- for the VMM -------------------------------------------------------------------------

    public ScsiTarget target() { return target; }

    /**
     * Queues an event for the driver (e.g. {@link #T_PARAM_CHANGE} after a resize, or
     * {@link #T_TRANSPORT_RESET} for hot-plug; the corresponding features are not offered yet, so
     * today only tests call it). Delivered when the driver has an event buffer; if too many wait,
     * the oldest are dropped and the next delivered event carries {@link #T_EVENTS_MISSED}.
     * Thread-safe; ignored when not active.
     */
    public synchronized void postEvent(int event, int lun, int reason) {
        ScsiControlWorker c = control;
        if (c != null) c.postEvent(event, lun, reason);
    }

    /**
     * Hot-plug: {@code disk} becomes LUN {@code lun} of target 0, and a driver that negotiated
     * VIRTIO_SCSI_F_HOTPLUG gets a TRANSPORT_RESET / RESCAN event for it (§5.6.6.3.1). False if
     * the LUN is taken.
     */
    /** The qdev ids of LUNs ({@code scsi-hd}'s {@code id}), for the VMM's device lists. */
    private final java.util.Map<Integer, String> lunNames = new java.util.concurrent.ConcurrentHashMap<>();

    /** Records {@code id} as LUN {@code lun}'s qdev id (forgotten when the LUN is detached). */
    public void nameLun(int lun, String id) {
        if (id == null) lunNames.remove(lun);
        else lunNames.put(lun, id);
    }

    /** LUN {@code lun}'s qdev id, or null. */
    public String lunName(int lun) {
        return lunNames.get(lun);
    }

    public boolean attachLun(int lun, ScsiDisk disk) {
        if (!target.plug(lun, disk)) return false;
        if (hotplugEvents) postEvent(T_TRANSPORT_RESET, lun, EVT_RESET_RESCAN);
        return true;
    }

    /**
     * Hot-unplug: LUN {@code lun} is gone for every command that looks it up from now on, and a
     * driver that negotiated HOTPLUG gets a TRANSPORT_RESET / REMOVED event. The future completes
     * (on the thread that finished the last one, or at once) when no command that found the unit
     * is in flight any more: only then may its image be closed. Null if there is no such LUN.
     */
    public CompletableFuture<Void> detachLun(int lun) {
        if (target.unplug(lun) == null) return null;
        lunNames.remove(lun);
        if (hotplugEvents) postEvent(T_TRANSPORT_RESET, lun, EVT_RESET_REMOVED);
        CompletableFuture<Void> drained = new CompletableFuture<>();
        synchronized (lunDrains) {
            lunDrains.computeIfAbsent(lun, k -> new ArrayList<>()).add(drained);
        }
        // Once drained, the LUN's data path (a start-up disk's) is forgotten before the caller closes it.
        CompletableFuture<Void> gone = drained.thenRun(() -> forgetDataPath(lun));
        // A command counts itself in before it looks the unit up: seen 0 now, none can still reach it.
        if (lunInFlight.get(lun) == 0) lunIdle(lun);
        return gone;
    }

    /** No command of {@code lun} is in flight (request worker, after the used-ring entry; or detachLun). */
    void lunIdle(int lun) {
        List<CompletableFuture<Void>> waiting;
        synchronized (lunDrains) {
            if (lunDrains.isEmpty()) return;
            waiting = lunDrains.remove(lun);
        }
        if (waiting != null) for (CompletableFuture<Void> f : waiting) f.complete(null);
    }

    /** Resets the device, stops the worker pool and closes the eventfds (not the disks, not the threads). */
    @Override
    public void close() {
        reset();
        pool.shutdown();
        try {
            pool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        kicks.close();
    }

    // ---- for the workers ---------------------------------------------------------------------

    int cdbSize() { return cdbSize; }

    /**
     * Live migration hand-over: each LUN's io_uring data path makes its writes durable and drops
     * its image lock (see {@link BlkBackend#releaseLock()}); LUNs without one hold no lock of
     * their own here to hand over.
     */
    public void releaseDiskLocks() {
        synchronized (dataPaths) {
            for (BlkBackend b : dataPaths) if (b != null) b.releaseLock();
        }
    }

    /** Takes the image locks of {@link #releaseDiskLocks()} (again). */
    public void acquireDiskLocks() {
        synchronized (dataPaths) {
            for (BlkBackend b : dataPaths) if (b != null) b.acquireLock();
        }
    }

    /** How many LUN numbers the data paths cover (0: none has one). */
    int dataPathSlots() {
        return dataPaths.length;
    }

    /** LUN {@code lun}'s asynchronous data path, or null. */
    BlkBackend dataPath(int lun) {
        synchronized (dataPaths) {
            return lun >= 0 && lun < dataPaths.length ? dataPaths[lun] : null;
        }
    }

    /** The disk LUN {@code lun}'s data path serves (the start-up disk of that LUN), or null. */
    ScsiDisk dataPathDisk(int lun) {
        return lun >= 0 && lun < dataPathDisks.length ? dataPathDisks[lun] : null;
    }

    /** The detached LUN's data path is no longer this device's (its owner closes it next). */
    private void forgetDataPath(int lun) {
        synchronized (dataPaths) {
            if (lun < dataPaths.length) dataPaths[lun] = null;
        }
    }

    int senseSize() { return senseSize; }

    ExecutorService pool() { return pool; }

    int segMax() { return config.segMax(); }

    /** Whether a popped command on any request queue still waits for {@code lun} (-1: any LUN). */
    boolean busy(int lun) {
        if (lun < 0) return totalInFlight.get() > 0;
        return lun < lunInFlight.length() && lunInFlight.get(lun) > 0;
    }

    void log(String msg) { log.accept(msg); }
}
