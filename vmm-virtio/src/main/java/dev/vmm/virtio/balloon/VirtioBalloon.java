package dev.vmm.virtio.balloon;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.rng.OneShotTimer;
import dev.vmm.virtio.rng.Scheduler;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * virtio-balloon (virtio 1.x §5.5): the host asks the guest for memory by raising {@code num_pages}
 * in config space; the driver hands pages over on the inflate queue (4 KiB PFNs, which the
 * {@link BalloonHost} gives back to the host), takes them back on the deflate queue, and writes how
 * many it holds to {@code actual}. Also the statistics queue (the guest's memory figures, refreshed
 * every {@code guest-stats-polling-interval} seconds by returning its buffer) and, with
 * {@code free-page-reporting=on}, the free page reporting queue (free ranges the host drops like
 * inflated pages). {@code deflate-on-oom=on} only offers the feature bit: the guest then takes
 * pages back from the balloon under memory pressure without asking.
 *
 * <p>Queues: 0 inflate, 1 deflate, 2 stats, 3 reporting (only with free page reporting), as QEMU
 * lays them out (free page hinting, which would sit before reporting, is not offered).
 *
 * <p><b>Validation.</b> A PFN outside guest RAM is refused (counted, one log line per request,
 * nothing released) and the rest of the request is served; a reported range not 4 KiB aligned is
 * refused the same way. A malformed ring ({@link QueueException}) puts the device into
 * DEVICE_NEEDS_RESET. Nothing escapes to the caller.
 *
 * <p><b>Threads.</b> {@link #queueNotify} (vCPU thread on the MMIO fallback, I/O thread on an
 * ioeventfd) only hands the queue pass to {@code io}, the device's I/O thread, where all queue work
 * and every {@link BalloonHost#release} happens. Queue passes, config accesses and reset are
 * serialised by the device's monitor.
 */
public final class VirtioBalloon implements MigratableDevice {
    public static final long F_MUST_TELL_HOST = 1L << 0, F_STATS_VQ = 1L << 1, F_DEFLATE_ON_OOM = 1L << 2,
            F_FREE_PAGE_HINT = 1L << 3, F_PAGE_POISON = 1L << 4, F_REPORTING = 1L << 5;
    public static final int INFLATE = 0, DEFLATE = 1, STATS = 2, REPORTING = 3;
    public static final int QUEUE_SIZE = 128;
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    /** num_pages (le32) and actual (le32). */
    public static final int CONFIG_SIZE = 8;
    /** Size of one {@code struct virtio_balloon_stat}: le16 tag, le64 value, packed. */
    static final int STAT_BYTES = 10;
    /** PFN bytes read from one request (Linux sends at most 256 PFNs; a hostile chain costs at most this). */
    static final long MAX_PFN_BYTES = 1 << 20;
    /** Largest interval QMP accepts (QEMU's limit: it must fit 32 bits). */
    public static final long MAX_POLL_SECONDS = 0xFFFF_FFFFL;

    /** The options of {@code --balloon}. */
    public record Options(boolean deflateOnOom, boolean freePageReporting) {
        public static final Options DEFAULT = new Options(false, false);
    }

    private final Options options;
    private final long ramBytes;
    private final BalloonHost host;
    private final Executor io;
    private final LongSupplier clockSeconds;
    private final Consumer<String> log;
    private volatile LongConsumer actualListener = a -> { };
    private final DescriptorChain chain = new DescriptorChain(64);
    private final byte[] pfnBuffer = new byte[4096];

    // Guarded by this.
    private int numPages;
    private int actual;
    private GuestMemory memory;
    private List<SplitQueue> queues;
    private VirtioInterrupt interrupt;
    private boolean statsNegotiated;
    private boolean failed;
    private int statsHead = -1;          // the stats buffer the device holds until it wants new figures
    private long pollSeconds;
    private final OneShotTimer pollTimer;
    private BalloonStats stats = BalloonStats.none();
    private long releasedBytes;
    private long refusedPages;

    /**
     * @param ramBytes     guest RAM size (the base of QMP's figures)
     * @param host         gives released pages back to the host
     * @param io           the I/O thread that runs every queue pass
     * @param scheduler    runs the stats polling timer
     * @param clockSeconds host wall clock in seconds (stats' {@code last-update})
     * @param log          one line per problem (stderr in the VMM)
     */
    public VirtioBalloon(Options options, long ramBytes, BalloonHost host, Executor io, Scheduler scheduler,
                         LongSupplier clockSeconds, Consumer<String> log) {
        this.options = options;
        this.ramBytes = ramBytes;
        this.host = host;
        this.io = io;
        this.pollTimer = new OneShotTimer(scheduler, this::pollFired);
        this.clockSeconds = clockSeconds;
        this.log = log;
    }

    /** Called (on the I/O thread) with the new balloon size in pages whenever the driver changes {@code actual}. */
    public void onActualChanged(LongConsumer listener) { this.actualListener = listener; }

    public Options options() { return options; }

    public long ramBytes() { return ramBytes; }

    // ---- host side (QMP) -----------------------------------------------------------------------

    /**
     * QMP {@code balloon}: the guest should have {@code targetBytes} of RAM. The balloon's target
     * becomes the difference in pages (a target above RAM means an empty balloon) and the driver
     * is told with a config change interrupt.
     */
    public synchronized void setTargetBytes(long targetBytes) {
        long t = Math.min(Math.max(targetBytes, 0), ramBytes);
        numPages = (int) ((ramBytes - t) >>> PAGE_SHIFT);
        if (interrupt != null) interrupt.signalConfigChange();
    }

    /** The balloon's target in pages ({@code num_pages}). */
    public synchronized int targetPages() { return numPages; }

    /** The pages the driver says it holds ({@code actual}). */
    public synchronized int actualPages() { return actual; }

    /** RAM the guest has: what QMP's {@code query-balloon} calls {@code actual}. */
    public synchronized long guestBytes() { return ramBytes - ((long) actual << PAGE_SHIFT); }

    public synchronized BalloonStats stats() { return stats; }

    public synchronized long pollIntervalSeconds() { return pollSeconds; }

    /** Bytes given back to the host so far (inflate and free page reporting). */
    public synchronized long releasedBytes() { return releasedBytes; }

    /** PFNs and ranges refused so far (outside RAM, unaligned). */
    public synchronized long refusedPages() { return refusedPages; }

    /**
     * Sets the stats polling interval (0 stops polling). While polling, the device returns the
     * stats buffer every interval so the driver refills it with fresh figures.
     */
    public synchronized void setPollIntervalSeconds(long seconds) {
        if (seconds < 0 || seconds > MAX_POLL_SECONDS) throw new IllegalArgumentException("polling interval out of range: " + seconds);
        pollSeconds = seconds;
        cancelPoll();
        armPoll();
    }

    // ---- VirtioDevice --------------------------------------------------------------------------

    @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.BALLOON; }

    @Override
    public long deviceFeatures() {
        return VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX | VirtioFeatures.VIRTIO_F_INDIRECT_DESC
                | F_STATS_VQ | (options.deflateOnOom() ? F_DEFLATE_ON_OOM : 0) | (options.freePageReporting() ? F_REPORTING : 0);
    }

    @Override public int queueCount() { return options.freePageReporting() ? 4 : 3; }

    @Override public int queueMaxSize(int queueIndex) { return QUEUE_SIZE; }

    @Override public int configSize() { return CONFIG_SIZE; }

    @Override
    public synchronized long readConfig(int offset, int size) {
        if (offset < 0 || size < 1 || size > 8 || offset + size > CONFIG_SIZE) return 0;
        long both = (numPages & 0xFFFF_FFFFL) | ((actual & 0xFFFF_FFFFL) << 32);
        long v = both >>> (8 * offset);
        return size == 8 ? v : v & ((1L << (8 * size)) - 1);
    }

    /** Only {@code actual} (bytes 4-7) is writable; a partial write changes only its bytes. */
    @Override
    public void writeConfig(int offset, int size, long value) {
        if (offset < 4 || size < 1 || size > 4 || offset + size > CONFIG_SIZE) return;
        int changed;
        synchronized (this) {
            int shift = 8 * (offset - 4);
            long mask = (size == 4 ? 0xFFFF_FFFFL : (1L << (8 * size)) - 1) << shift;
            int next = (int) ((actual & ~mask) | ((value << shift) & mask));
            if (next == actual) return;
            actual = next;
            changed = next;
        }
        io.execute(() -> actualListener.accept(changed & 0xFFFF_FFFFL));
    }

    @Override
    public synchronized void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues,
                                      VirtioInterrupt interrupt) throws ActivationException {
        if (this.queues != null) throw new ActivationException("virtio-balloon: activated twice without a reset");
        if (queues.size() != queueCount()) {
            throw new ActivationException("virtio-balloon: " + queues.size() + " queues given, device has " + queueCount());
        }
        this.memory = memory;
        this.queues = List.copyOf(queues);
        this.interrupt = interrupt;
        this.statsNegotiated = VirtioFeatures.has(negotiatedFeatures, F_STATS_VQ) && queues.get(STATS).isReady();
        this.failed = false;
        this.statsHead = -1;
        // Buffers may already wait (a restored machine): look at every queue once.
        for (int q = 0; q < queues.size(); q++) queueNotify(q);
        armPoll();
    }

    @Override
    public void queueNotify(int queueIndex) {
        if (queueIndex < 0 || queueIndex >= queueCount()) return;
        io.execute(() -> serve(queueIndex));
    }

    @Override
    public synchronized void reset() {
        cancelPoll();
        memory = null;
        queues = null;
        interrupt = null;
        statsHead = -1;
        failed = false;
        actual = 0;     // a reset driver holds no pages; the host's target (num_pages) stays for the next one
    }

    // ---- queue passes (I/O thread) ------------------------------------------------------------

    /** One pass over queue {@code q}. Never throws. */
    synchronized void serve(int q) {
        if (queues == null || failed) return;
        SplitQueue queue = queues.get(q);
        if (!queue.isReady()) return;
        try {
            boolean used = switch (q) {
                case INFLATE -> servePages(queue, true);
                case DEFLATE -> servePages(queue, false);
                case STATS -> serveStats(queue);
                default -> serveReports(queue);
            };
            if (used && queue.needsNotification()) interrupt.signalUsedBuffer(q);
        } catch (QueueException e) {
            fail(e.getMessage());
        } catch (RuntimeException e) { // a VMM bug must not kill the I/O thread
            fail("virtio-balloon: " + e);
        }
    }

    /** Inflate (release each page) or deflate (only validated: the pages come back by faulting in). */
    private boolean servePages(SplitQueue queue, boolean inflate) throws QueueException {
        boolean used = false;
        PageRuns runs = new PageRuns(host);
        while (queue.pop(chain)) {
            long refused = 0, firstRefused = -1;
            GuestRegion region = null;
            long total = chain.readableBytes() & ~3L;
            if (total > MAX_PFN_BYTES) {
                refuse(0, (inflate ? "inflate" : "deflate") + ": request of " + (total / 4) + " PFNs cut to " + MAX_PFN_BYTES / 4);
                total = MAX_PFN_BYTES;
            }
            for (long off = 0; off < total; ) {
                int n = (int) Math.min(chain.readFromChain(off, pfnBuffer), total - off) & ~3;
                if (n <= 0) break;
                ByteBuffer b = ByteBuffer.wrap(pfnBuffer, 0, n).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < n; i += 4) {
                    long pfn = b.getInt(i) & 0xFFFF_FFFFL;
                    long gpa = pfn << PAGE_SHIFT;
                    GuestRegion r = memory.regionFor(gpa, PAGE_SIZE); // null outside RAM
                    if (r == null) {
                        if (refused++ == 0) firstRefused = pfn;
                        continue;
                    }
                    if (inflate) runs.add(gpa, PAGE_SIZE, r == region);
                    region = r;
                }
                off += n;
            }
            runs.flush();
            if (refused > 0) refuse(refused, (inflate ? "inflate" : "deflate") + ": " + refused
                    + " page(s) outside guest RAM refused (first pfn 0x" + Long.toHexString(firstRefused) + ")");
            queue.addUsed(chain.head(), 0);
            used = true;
        }
        account(runs);
        return used;
    }

    /** Free page reporting: each buffer of a chain is a free range to drop; used length 0. */
    private boolean serveReports(SplitQueue queue) throws QueueException {
        boolean used = false;
        PageRuns runs = new PageRuns(host);
        while (queue.pop(chain)) {
            for (int i = 0; i < chain.count(); i++) {
                long gpa = chain.address(i), len = chain.length(i);
                if (len == 0) continue;
                if (((gpa | len) & (PAGE_SIZE - 1)) != 0) {
                    refuse(len >>> PAGE_SHIFT, "free page reporting: range 0x" + Long.toHexString(gpa) + "+0x"
                            + Long.toHexString(len) + " not 4 KiB aligned, refused");
                    continue;
                }
                runs.add(gpa, len, false); // a descriptor lies in one region; do not merge across descriptors
            }
            runs.flush();
            queue.addUsed(chain.head(), 0);
            used = true;
        }
        account(runs);
        return used;
    }

    /**
     * The stats queue: the driver posts one buffer of {@code virtio_balloon_stat} records; the
     * device reads it and keeps it until it wants new figures ({@link #requestStats}).
     */
    private boolean serveStats(SplitQueue queue) throws QueueException {
        if (!statsNegotiated || statsHead >= 0) return false;
        if (!queue.pop(chain)) return false;
        long len = Math.min(chain.readableBytes(), (long) STAT_BYTES * 64);
        byte[] raw = new byte[(int) len];
        chain.readFromChain(0, raw);
        long[] values = stats.values();
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + STAT_BYTES <= raw.length; at += STAT_BYTES) {
            int tag = b.getShort(at) & 0xFFFF;
            if (tag < BalloonStats.TAGS) values[tag] = b.getLong(at + 2);
        }
        stats = new BalloonStats(values, clockSeconds.getAsLong());
        statsHead = chain.head();
        return false; // held: nothing goes to the used ring yet
    }

    /** Returns the held stats buffer so the driver sends fresh figures. On the I/O thread. */
    synchronized void requestStats() {
        if (queues == null || failed || statsHead < 0) return;
        SplitQueue queue = queues.get(STATS);
        try {
            queue.addUsed(statsHead, 0);
            statsHead = -1;
            if (queue.needsNotification()) interrupt.signalUsedBuffer(STATS);
        } catch (QueueException e) {
            fail(e.getMessage());
        }
    }

    private void armPoll() {
        if (pollSeconds <= 0 || queues == null || !statsNegotiated) return;
        pollTimer.arm(pollSeconds * 1_000_000_000L);
    }

    private void pollFired() {
        synchronized (this) {
            pollTimer.fired();
            armPoll();
        }
        io.execute(this::requestStats);
    }

    private void cancelPoll() {
        pollTimer.cancel();
    }

    private void account(PageRuns runs) {
        releasedBytes += runs.released();
        if (runs.failed() > 0) log.accept("virtio-balloon: the host could not release " + runs.failed() + " bytes of guest RAM");
    }

    private void refuse(long pages, String line) {
        refusedPages += pages;
        log.accept("virtio-balloon: " + line);
    }

    private void fail(String reason) {
        failed = true;
        cancelPoll();
        log.accept(reason);
        interrupt.deviceNeedsReset(reason);
    }

    // ---- saved state ---------------------------------------------------------------------------

    @Override public int stateVersion() { return 1; }

    /** Queue passes are synchronous; only the held stats buffer is given back (popped again after a restore). */
    @Override
    public synchronized int[] quiesce() {
        int[] held = new int[queueCount()];
        if (statsHead >= 0) held[STATS] = 1;
        int n = numPages, a = actual;
        long poll = pollSeconds;
        reset();
        numPages = n;
        actual = a;
        pollSeconds = poll;
        return held;
    }

    /** num_pages, actual, polling interval, RAM size (checked on load). */
    @Override
    public synchronized byte[] saveState() {
        return ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putInt(numPages).putInt(actual).putLong(pollSeconds)
                .putLong(ramBytes).array();
    }

    @Override
    public synchronized void loadState(int version, byte[] state) {
        if (version != 1 || state.length != 24) throw new IllegalArgumentException("virtio-balloon: malformed saved state");
        ByteBuffer b = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        int n = b.getInt(), a = b.getInt();
        long poll = b.getLong(), ram = b.getLong();
        if (ram != ramBytes) throw new IllegalArgumentException("virtio-balloon: saved for " + ram + " bytes of RAM, this machine has " + ramBytes);
        if (poll < 0 || poll > MAX_POLL_SECONDS) throw new IllegalArgumentException("virtio-balloon: saved polling interval " + poll + " out of range");
        numPages = n;
        actual = a;
        pollSeconds = poll;
    }

    @Override
    public String toString() {
        return "virtio-balloon[" + (options.deflateOnOom() ? "deflate-on-oom " : "") + (options.freePageReporting() ? "free-page-reporting " : "")
                + "target " + numPages + " pages, actual " + actual + "]";
    }
}
