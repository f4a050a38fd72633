package dev.vmm.virtio.rng;

import dev.vmm.ratelimit.TokenBucket;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * virtio-rng, the entropy device (virtio 1.x §5.4): one request queue whose chains are
 * device-writable buffers that the device fills with bytes read from a host entropy source
 * ({@code /dev/urandom} by default, any readable file such as {@code /dev/hwrng}), opened once at
 * construction and read straight into guest RAM. No config space, no device features.
 *
 * <p><b>Rate limit.</b> Optionally a {@link TokenBucket} bounds the bytes handed out. A request
 * arriving with the bucket empty is held (not completed, no later chain popped: requests are
 * served in order) and a {@link Scheduler} task serves it once enough tokens are back; a request
 * is given {@code min(buffer, tokens)} bytes, which the spec allows (the device may write fewer
 * bytes than the buffer holds, but at least one).
 *
 * <p><b>Validation.</b> A request must consist of device-writable buffers only; a chain with a
 * device-readable buffer, or any {@link QueueException} from the ring, puts the device in
 * DEVICE_NEEDS_RESET via {@link VirtioInterrupt#deviceNeedsReset} and it stops serving until
 * {@link #reset()}. Nothing is thrown out of the serving thread.
 *
 * <p><b>Threading contract.</b> Unlike the general {@link VirtioDevice#queueNotify} contract (which
 * only wakes a worker), this device serves its queue <em>synchronously on the thread that calls
 * {@code queueNotify}</em> — the VMM's I/O thread on an ioeventfd kick, or a vCPU thread on the
 * MMIO/PIO slow path — because a request is a single bounded read. Each call handles at most one
 * queue's worth of requests ({@code queue size} chains of at most {@link #MAX_REQUEST_BYTES}); if
 * more are pending it schedules a continuation on the {@link Scheduler} instead of looping. All
 * queue work (notify, scheduler continuations, reset) is serialised by the device's monitor, which
 * is the happens-before edge between the threads that take turns on the queue. A blocking source
 * (a slow {@code /dev/hwrng}) blocks the calling thread for one read; use a rate limit or
 * {@code /dev/urandom} where that matters.
 */
public final class VirtioRng implements VirtioDevice, AutoCloseable, dev.vmm.virtio.MigratableDevice {
    private static final Logger LOG = Logger.getLogger(VirtioRng.class.getName());

    /** Largest number of bytes given to one request (Linux asks for at most a page; QEMU caps at 64 KiB too). */
    public static final int MAX_REQUEST_BYTES = 64 * 1024;
    public static final int QUEUE_SIZE = 256;
    public static final Path DEFAULT_SOURCE = Path.of("/dev/urandom");

    private final Path sourcePath;
    private final FileChannel source;
    private final TokenBucket bucket;
    private final LongSupplier clock;
    private final DescriptorChain chain = new DescriptorChain(4);

    // Guarded by this.
    private SplitQueue queue;
    private VirtioInterrupt interrupt;
    private boolean held;          // chain was popped but not completed (waiting for tokens)
    private boolean failed;
    private boolean sourceEnded;
    private final OneShotTimer timer;
    private long bytesServed;

    /** Reads from {@code /dev/urandom}, no rate limit. */
    public VirtioRng() throws IOException {
        this(DEFAULT_SOURCE, null, System::nanoTime, Scheduler.shared());
    }

    /** Reads from {@code source}, optionally rate limited; real clock and the shared scheduler. */
    public VirtioRng(Path source, RateLimit rate) throws IOException {
        this(source, rate, System::nanoTime, Scheduler.shared());
    }

    /**
     * @param source a readable file or character device, opened now and kept open
     * @param rate   a rate limit, or null for none
     * @param clock  nanosecond clock for the rate limit
     * @param scheduler runs held-back or continued work later
     * @throws IOException if the source cannot be opened
     */
    public VirtioRng(Path source, RateLimit rate, LongSupplier clock, Scheduler scheduler) throws IOException {
        this.sourcePath = source;
        this.source = FileChannel.open(source, StandardOpenOption.READ);
        this.clock = clock;
        this.bucket = rate == null ? null : TokenBucket.ofBurst(rate.bytes(), rate.periodNanos(), clock.getAsLong());
        this.timer = new OneShotTimer(scheduler, this::timerFired);
    }

    public Path sourcePath() { return sourcePath; }

    /** Total bytes handed to the guest since construction. */
    public synchronized long bytesServed() { return bytesServed; }

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.ENTROPY; }

    @Override
    public long deviceFeatures() {
        return VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_INDIRECT_DESC | VirtioFeatures.VIRTIO_F_EVENT_IDX;
    }

    @Override public int queueCount() { return 1; }

    @Override public int queueMaxSize(int queueIndex) { return QUEUE_SIZE; }

    @Override public int configSize() { return 0; }

    @Override public long readConfig(int offset, int size) { return 0; }

    @Override
    public synchronized void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues,
                                      VirtioInterrupt interrupt) throws ActivationException {
        if (queues.size() != 1 || !queues.get(0).isReady()) throw new ActivationException("virtio-rng: request queue 0 not ready");
        if (!source.isOpen()) throw new ActivationException("virtio-rng: entropy source " + sourcePath + " is closed");
        this.queue = queues.get(0);
        this.interrupt = interrupt;
        this.held = false;
        this.failed = false;
    }

    @Override
    public void queueNotify(int queueIndex) {
        if (queueIndex == 0) serve();
    }

    @Override
    public synchronized void reset() {
        cancelTimer();
        queue = null;
        interrupt = null;
        held = false;
        failed = false;
    }

    // ---- saved state (MigratableDevice) -------------------------------------------------------

    @Override
    public int stateVersion() { return 1; }

    /** Requests are served synchronously; one may be held waiting for tokens: it is given back. */
    @Override
    public synchronized int[] quiesce() {
        int heldBack = held ? 1 : 0;
        reset();
        return new int[] {heldBack};
    }

    /** No run-time state beyond the queue (the source and rate come from the command line). */
    @Override
    public byte[] saveState() { return new byte[0]; }

    @Override
    public void loadState(int version, byte[] state) {
        if (version != 1 || state.length != 0) throw new IllegalArgumentException("virtio-rng: malformed saved state");
    }

    /** Closes the entropy source; the device cannot be activated again. */
    @Override
    public synchronized void close() throws IOException {
        reset();
        source.close();
    }

    /** One bounded pass over the request queue. Never throws. */
    synchronized void serve() {
        if (queue == null || failed) return;
        try {
            boolean completed = false;
            int budget = queue.size();
            while (true) {
                if (!held) {
                    if (budget == 0) {               // more may be waiting: continue later, not here
                        scheduleServe(0);
                        break;
                    }
                    if (!queue.pop(chain)) break;
                    budget--;
                    if (chain.readableCount() != 0) {
                        fail("virtio-rng: request " + chain + " has device-readable buffers");
                        return;
                    }
                    held = true;
                }
                long want = Math.min(chain.writableBytes(), MAX_REQUEST_BYTES);
                long grant = want;
                if (bucket != null && want > 0) {
                    bucket.refill(clock.getAsLong());
                    grant = bucket.takeUpTo(want);
                    if (grant == 0) {                // hold the request until the bucket refills
                        scheduleServe(bucket.waitNanos(want));
                        break;
                    }
                }
                int written = fill(grant);
                held = false;
                queue.addUsed(chain.head(), written);
                bytesServed += written;
                completed = true;
            }
            if (completed && queue.needsNotification()) interrupt.signalUsedBuffer(0);
        } catch (QueueException e) {
            fail(e.getMessage());
        } catch (RuntimeException e) {               // defensive: a VMM bug must not kill the I/O thread
            fail("virtio-rng: " + e);
        }
    }

    /** Reads up to {@code count} bytes from the source into the chain's writable buffers. */
    private int fill(long count) {
        long done = 0;
        for (int i = chain.readableCount(); i < chain.count() && done < count; i++) {
            long n = Math.min(chain.length(i), count - done);
            if (n == 0) continue;
            MemorySegment seg = chain.segment(i).asSlice(0, n);
            ByteBuffer buf = seg.asByteBuffer();
            try {
                while (buf.hasRemaining()) {
                    if (source.read(buf) < 0) {
                        if (!sourceEnded) LOG.warning("virtio-rng: entropy source " + sourcePath + " reached end of file");
                        sourceEnded = true;
                        return (int) (done + buf.position());
                    }
                }
            } catch (IOException e) {
                LOG.log(Level.WARNING, "virtio-rng: reading " + sourcePath + " failed", e);
                return (int) (done + buf.position());
            }
            done += n;
        }
        return (int) done;
    }

    private void scheduleServe(long delayNanos) {
        timer.arm(delayNanos);
    }

    private void timerFired() {
        synchronized (this) {
            timer.fired();
        }
        serve();
    }

    private void cancelTimer() {
        timer.cancel();
    }

    private void fail(String reason) {
        failed = true;
        cancelTimer();
        LOG.warning(reason);
        interrupt.deviceNeedsReset(reason);
    }

    @Override
    public String toString() {
        return "virtio-rng[" + sourcePath + (bucket == null ? "" : ", " + bucket.amountPerPeriod() + " B/" + bucket.periodNanos() + " ns") + "]";
    }
}
