package dev.vmm.virtio.blk;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.io.QueueDevice;
import dev.vmm.virtio.queue.SplitQueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The virtio block device (type 2, virtio 1.x §5.2): config space and feature set here, the data
 * plane in one {@link BlkQueueWorker} per request queue, each served by an {@link IoThread}
 * (queue {@code i} by thread {@code i mod M}), over an asynchronous {@link BlkBackend}.
 *
 * <p>Wiring: every queue has an eventfd ({@link #queueEventFd(int)}) that the VMM binds to the
 * queue's notify address with KVM_IOEVENTFD, so guest kicks reach the I/O thread without a VM exit
 * being handled in Java; {@link #queueNotify(int)} (the transport's fallback) writes the same
 * eventfd. Completions are signalled through the transport's {@link VirtioInterrupt}.
 *
 * <p>The device does not own the backend or the I/O threads: close them after {@link #close()}.
 */
public final class VirtioBlk extends QueueDevice {
    // Feature bits (virtio 1.x §5.2.3).
    public static final long VIRTIO_BLK_F_SIZE_MAX = 1L << 1;
    public static final long VIRTIO_BLK_F_SEG_MAX = 1L << 2;
    public static final long VIRTIO_BLK_F_GEOMETRY = 1L << 4;
    public static final long VIRTIO_BLK_F_RO = 1L << 5;
    public static final long VIRTIO_BLK_F_BLK_SIZE = 1L << 6;
    public static final long VIRTIO_BLK_F_FLUSH = 1L << 9;
    public static final long VIRTIO_BLK_F_TOPOLOGY = 1L << 10;
    public static final long VIRTIO_BLK_F_CONFIG_WCE = 1L << 11;
    public static final long VIRTIO_BLK_F_MQ = 1L << 12;
    public static final long VIRTIO_BLK_F_DISCARD = 1L << 13;
    public static final long VIRTIO_BLK_F_WRITE_ZEROES = 1L << 14;

    // Request types and status values (§5.2.6).
    public static final int VIRTIO_BLK_T_IN = 0;
    public static final int VIRTIO_BLK_T_OUT = 1;
    public static final int VIRTIO_BLK_T_FLUSH = 4;
    public static final int VIRTIO_BLK_T_GET_ID = 8;
    public static final int VIRTIO_BLK_T_GET_LIFETIME = 10;
    public static final int VIRTIO_BLK_T_DISCARD = 11;
    public static final int VIRTIO_BLK_T_WRITE_ZEROES = 13;
    public static final int VIRTIO_BLK_T_SECURE_ERASE = 14;
    public static final int VIRTIO_BLK_S_OK = 0;
    public static final int VIRTIO_BLK_S_IOERR = 1;
    public static final int VIRTIO_BLK_S_UNSUPP = 2;
    public static final int VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;
    public static final int VIRTIO_BLK_ID_BYTES = 20;
    public static final int SECTOR_SIZE = 512;

    /** Config space up to and including {@code write_zeroes_may_unmap} and its padding. */
    public static final int CONFIG_SIZE = 60;
    /** Discard granularity advertised, in sectors (4 KiB: the file-system block a hole needs). */
    static final int DISCARD_ALIGNMENT_SECTORS = 8;

    private final BlkBackend backend;
    private final BlkConfig config;
    private final long features;
    private final long capacity;
    private final byte[] serial;
    private final byte[] configSpace = new byte[CONFIG_SIZE];
    private final BlkQueueStats[] stats;
    private final List<BlkQueueWorker> workers = new ArrayList<>();

    /**
     * @param backend the disk; read-only, write-through and discard support come from it
     * @param config  queues, sizes, serial, discard, throttling
     * @param threads the I/O threads to spread the queues over (at least one)
     */
    public VirtioBlk(BlkBackend backend, BlkConfig config, List<IoThread> threads) {
        this(backend, config, threads, msg -> System.err.println(msg));
    }

    public VirtioBlk(BlkBackend backend, BlkConfig config, List<IoThread> threads, Consumer<String> log) {
        super("virtio-blk", config.numQueues(), threads, log);
        this.backend = backend;
        this.config = config;
        this.capacity = backend.size() / SECTOR_SIZE;
        String id = config.serial() != null ? config.serial() : backend.defaultSerial();
        byte[] s = id.getBytes(StandardCharsets.US_ASCII);
        this.serial = s.length > VIRTIO_BLK_ID_BYTES ? java.util.Arrays.copyOf(s, VIRTIO_BLK_ID_BYTES) : s;

        long f = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX | VirtioFeatures.VIRTIO_F_INDIRECT_DESC
                | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE;
        if (!backend.writeThrough()) f |= VIRTIO_BLK_F_FLUSH;
        if (config.numQueues() > 1) f |= VIRTIO_BLK_F_MQ;
        if (backend.readOnly()) {
            f |= VIRTIO_BLK_F_RO;
        } else {
            if (config.discard() && backend.supportsDiscard()) f |= VIRTIO_BLK_F_DISCARD;
            if (config.writeZeroes() && backend.supportsWriteZeroes()) f |= VIRTIO_BLK_F_WRITE_ZEROES;
        }
        this.features = f;

        MemorySegment c = MemorySegment.ofArray(configSpace);
        c.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, capacity);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 12, config.segMax());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 20, SECTOR_SIZE);
        c.set(ValueLayout.JAVA_SHORT_UNALIGNED, 34, (short) config.numQueues());
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 36, BlkConfig.MAX_DISCARD_SECTORS);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 40, BlkConfig.MAX_DISCARD_SEGMENTS);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 44, DISCARD_ALIGNMENT_SECTORS);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 48, BlkConfig.MAX_DISCARD_SECTORS);
        c.set(ValueLayout.JAVA_INT_UNALIGNED, 52, BlkConfig.MAX_DISCARD_SEGMENTS);
        c.set(ValueLayout.JAVA_BYTE, 56, (byte) ((features & VIRTIO_BLK_F_DISCARD) != 0 ? 1 : 0));

        stats = new BlkQueueStats[config.numQueues()];
        for (int i = 0; i < stats.length; i++) stats[i] = new BlkQueueStats();
    }

    // ---- VirtioDevice ------------------------------------------------------------------------

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.BLOCK; }

    @Override public long deviceFeatures() { return features; }

    @Override public int queueCount() { return config.numQueues(); }

    @Override public int queueMaxSize(int queueIndex) { return config.queueSize(); }

    @Override public int configSize() { return CONFIG_SIZE; }

    /**
     * Every field is read-only (writeback is writable only with CONFIG_WCE, not offered), so writes
     * are ignored: {@link dev.vmm.virtio.VirtioDevice#writeConfig}'s default.
     */
    @Override
    public long readConfig(int offset, int size) {
        return dev.vmm.virtio.ConfigSpace.read(configSpace, offset, size);
    }

    @Override
    public synchronized void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues,
                                      VirtioInterrupt interrupt) throws ActivationException {
        checkActivation(queues, !workers.isEmpty());
        boolean any = false;
        for (int i = 0; i < queues.size(); i++) {
            SplitQueue q = queues.get(i);
            if (!q.isReady()) continue;
            any = true;
            IoThread t = threadFor(i);
            BlkQueueWorker w = new BlkQueueWorker(this, i, q, memory, t, interrupt, kicks.fd(i), negotiatedFeatures, stats[i]);
            workers.add(w);
            try {
                t.runAndWait(w::start);
            } catch (RuntimeException e) {
                reset();
                throw new ActivationException("virtio-blk: starting queue " + i + ": " + e.getMessage(), e);
            }
        }
        if (!any) throw new ActivationException("virtio-blk: no queue is ready");
    }

    @Override
    public synchronized void reset() {
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (BlkQueueWorker w : workers) stops.add(w.stop());
        awaitStopped(stops, "reset", "quiesce");
        workers.clear();
        kicks.forget(); // kicks of the old queues
    }

    // ---- saved state (MigratableDevice) -------------------------------------------------------

    @Override
    public int stateVersion() { return 1; }

    /** Completes every request in flight to the used ring, then stops the workers (nothing is held back). */
    @Override
    public synchronized int[] quiesce() {
        List<CompletableFuture<Void>> drains = new ArrayList<>();
        for (BlkQueueWorker w : workers) drains.add(w.drain());
        awaitDrained(drains, "virtio-blk: requests still in flight after 30 s; cannot save the device state");
        reset();
        return new int[config.numQueues()];
    }

    /**
     * Nothing here changes at run time (the config space is read-only); the state records the
     * disk's shape so a destination started with another disk is refused: capacity in sectors,
     * queue count, read-only, offered features.
     */
    @Override
    public byte[] saveState() {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + 4 + 1 + 8);
        b.putLong(capacity).putInt(config.numQueues()).put((byte) (backend.readOnly() ? 1 : 0)).putLong(features);
        return b.array();
    }

    @Override
    public void loadState(int version, byte[] state) {
        if (version != 1 || state.length != 21) throw new IllegalArgumentException("virtio-blk: malformed saved state");
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(state);
        long cap = b.getLong();
        int queues = b.getInt();
        boolean ro = b.get() != 0;
        long f = b.getLong();
        if (cap != capacity) {
            throw new IllegalArgumentException("virtio-blk: the saved disk has " + cap + " sectors, this one " + capacity + " (not the same disk)");
        }
        if (queues != config.numQueues()) throw new IllegalArgumentException("virtio-blk: the saved disk has " + queues + " queues, this one " + config.numQueues());
        if (ro != backend.readOnly()) throw new IllegalArgumentException("virtio-blk: the saved disk was " + (ro ? "read-only" : "read-write") + ", this one is not");
        if (f != features) throw new IllegalArgumentException("virtio-blk: the saved disk offered features 0x" + Long.toHexString(f) + ", this one 0x" + Long.toHexString(features));
    }

    // ---- for the VMM -------------------------------------------------------------------------

    /** Live migration hand-over: writes made durable, image lock dropped (see {@link BlkBackend#releaseLock()}). */
    public void releaseDiskLock() { backend.releaseLock(); }

    /** Takes the image lock (again). @throws BlkBackendException if another process holds it */
    public void acquireDiskLock() { backend.acquireLock(); }

    /** What the disk is, for messages. */
    public String backendDescription() { return backend.toString(); }

    /** Statistics of queue {@code i}. */
    public BlkQueueStats stats(int i) {
        return stats[i];
    }

    /** A multi-line summary for {@code --stats}: one line per queue. */
    public String statsSummary(String name) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < stats.length; i++) {
            sb.append(name).append(" queue ").append(i).append(": ").append(stats[i].summary()).append('\n');
        }
        return sb.toString();
    }

    // ---- for the workers ---------------------------------------------------------------------

    BlkBackend backend() { return backend; }

    BlkConfig config() { return config; }

    long capacitySectors() { return capacity; }

    /** The disk size the guest sees, in bytes (capacity × 512). */
    public long capacityBytes() { return capacity * SECTOR_SIZE; }

    boolean readOnly() { return backend.readOnly(); }

    byte[] serialBytes() { return serial; }

    /** The unmap flag is honoured only with discard=unmap. */
    int unmapMask() { return config.discard() ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0; }

    void log(String msg) { log.accept(msg); }
}
