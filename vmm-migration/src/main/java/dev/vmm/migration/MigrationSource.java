package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.migration.xbzrle.XbzrleCacheStats;
import dev.vmm.migration.xbzrle.XbzrlePageEncoder;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channels;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.zip.CRC32C;
import java.util.zip.CheckedOutputStream;

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
 * <p>Every page goes out from a private copy taken once: the zero test, the XBZRLE delta, the
 * cache update and the verification hash all describe exactly the bytes the destination got.
 */
public final class MigrationSource {
    private static final int DEFAULT_PAGE_SIZE = 4096;

    private final GuestMemory memory;
    private final DirtyLog dirtyLog;
    private final VmControl vm;
    private final MigrationParameters params;
    private final MigrationCapabilities caps;
    private final int pageSize;
    private final GuestRegion[] regions;
    private final long[] firstPfn;
    private final long[] regionPages;
    private final long[] firstIndex; // of each region's first page among all pages (for sentHash)
    private final long totalPages;

    private DirtyLogSelfTest selfTest;
    private Consumer<MigrationStatus> listener = s -> { };

    private volatile MigrationStatus status = MigrationStatus.NONE;
    private volatile boolean cancelRequested;
    private volatile String errorDesc;
    private volatile Throwable failure;
    private final CountDownLatch finished = new CountDownLatch(1);
    private Thread thread;
    private ByteChannel channel;

    // Statistics: written by the migration thread only, read by anyone.
    private volatile long startNanos;
    private volatile long endNanos;
    private volatile long setupMs;
    private volatile long setupPauseMs;
    private volatile long downtimeMs;
    private volatile long expectedDowntimeMs;
    private volatile long transferred;
    private volatile long remainingPages;
    private volatile long duplicate;
    private volatile long normal;
    private volatile long dirtyPagesRate;
    private volatile double mbps;
    private volatile long dirtySyncCount;
    private volatile long precopyBytes = -1;
    private volatile int throttle;
    private volatile String dirtyLogMode;
    private volatile long verifiedResent;
    private volatile String selfTestVerdict;
    private volatile XbzrleCacheStats xbzrleStats;
    private volatile Map<String, Long> downtimeBreakdown = Map.of();

    // The return path (destination → source).
    private final CountDownLatch ready = new CountDownLatch(1);
    private final Object acks = new Object();
    private int ackedIteration = -1; // guarded by acks
    private volatile String peerError;
    private Thread returnPath;

    public MigrationSource(GuestMemory memory, DirtyLog dirtyLog, VmControl vm, MigrationParameters params,
                           MigrationCapabilities caps) {
        this(memory, dirtyLog, vm, params, caps, DEFAULT_PAGE_SIZE);
    }

    public MigrationSource(GuestMemory memory, DirtyLog dirtyLog, VmControl vm, MigrationParameters params,
                           MigrationCapabilities caps, int pageSize) {
        if (Integer.bitCount(pageSize) != 1 || pageSize < MigrationProtocol.MIN_PAGE || pageSize > MigrationProtocol.MAX_PAGE) {
            throw new IllegalArgumentException("page size " + pageSize + " is not a power of two in 4 KiB..64 KiB");
        }
        this.memory = Objects.requireNonNull(memory);
        this.dirtyLog = Objects.requireNonNull(dirtyLog);
        this.vm = Objects.requireNonNull(vm);
        this.params = Objects.requireNonNull(params);
        this.caps = caps.copy();
        this.pageSize = pageSize;
        List<GuestRegion> rs = memory.regions();
        if (rs.size() > MigrationProtocol.MAX_REGIONS) throw new IllegalArgumentException("too many RAM regions");
        regions = rs.toArray(GuestRegion[]::new);
        firstPfn = new long[regions.length];
        regionPages = new long[regions.length];
        firstIndex = new long[regions.length];
        long pages = 0;
        for (int i = 0; i < regions.length; i++) {
            GuestRegion r = regions[i];
            if (r.base() % pageSize != 0 || r.size() % pageSize != 0) {
                throw new IllegalArgumentException(String.format("RAM region 0x%x+0x%x is not page aligned", r.base(), r.size()));
            }
            firstPfn[i] = r.base() / pageSize;
            regionPages[i] = r.size() / pageSize;
            firstIndex[i] = pages;
            pages += regionPages[i];
        }
        if (pages > Integer.MAX_VALUE) throw new IllegalArgumentException("guest RAM too large for page hashes");
        totalPages = pages;
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
        startNanos = System.nanoTime();
        setStatus(MigrationStatus.SETUP);
        thread = new Thread(this::run, "migration");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * {@code migrate_cancel}: stops at the next page (or unblocks a blocked write by closing the
     * connection) and resumes the VM. No effect once the destination reported READY.
     */
    public void cancel() {
        synchronized (this) {
            if (status.isFinal() || status == MigrationStatus.CANCELLING) return;
            if (ready.getCount() == 0) return; // too late: the destination owns the VM
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

    public MigrationStats stats() {
        MigrationStatus s = status;
        long end = s.isFinal() && endNanos != 0 ? endNanos : System.nanoTime();
        long total = startNanos == 0 ? 0 : (end - startNanos) / 1_000_000;
        long moved = transferred;
        long pre = precopyBytes < 0 ? moved : precopyBytes;
        return new MigrationStats(s, total, expectedDowntimeMs, downtimeMs, setupMs, moved, remainingPages * pageSize,
                totalPages * pageSize, duplicate, normal, pageSize, dirtyPagesRate, mbps, dirtySyncCount, pre, moved - pre,
                caps.xbzrle() ? xbzrleOrEmpty() : null, throttle, dirtyLogMode, verifiedResent, selfTestVerdict, errorDesc,
                setupPauseMs, downtimeBreakdown);
    }

    private XbzrleCacheStats xbzrleOrEmpty() {
        XbzrleCacheStats x = xbzrleStats;
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

    private DataOutputStream out;
    private CRC32C crc;
    private RateLimiter limiter;
    private boolean limited;
    private XbzrlePageEncoder encoder;
    private long[] sentHash;
    private long[][] dirty;
    private final byte[] buf = new byte[MigrationProtocol.MAX_PAGE];
    // The page copy and the zero page are native memory, like guest RAM: the hash, the zero test and
    // the encoder then see one kind of segment all along. When the live phase had fed them heap
    // copies, the stop-and-copy hash pass over guest RAM hit deoptimized code and its first 50 ms
    // (of 80 for 128 MiB) went to the interpreter and recompilation — all of it downtime.
    private Arena arena;
    private MemorySegment bufSeg;
    private byte[] delta;
    private MemorySegment deltaSeg;
    private MemorySegment zeroSeg;
    private long pageRecords;
    private boolean paused;
    private boolean logStarted;
    private boolean firstPass = true;

    private void run() {
        try {
            migrate();
            endNanos = System.nanoTime();
            setStatus(MigrationStatus.COMPLETED);
        } catch (Throwable t) {
            fail(t);
        } finally {
            if (encoder != null) encoder.close();
            if (arena != null) arena.close();
            if (logStarted) dirtyLog.stop();
            closeChannel();
            finished.countDown();
        }
    }

    private void fail(Throwable t) {
        // A write that failed because the destination gave up usually has the destination's reason
        // (NAK) already waiting on the return path: let it be read before closing the channel, or the
        // close would make that read fail too and the reason would be lost.
        if (!cancelRequested && t instanceof IOException) joinReturnPath(500);
        closeChannel(); // the destination must see the end before this VM runs again
        joinReturnPath(1000);
        String why = cancelRequested ? "migration cancelled"
                : peerError != null ? peerError
                : t.getMessage() != null ? t.getMessage() : t.toString();
        if (!cancelRequested && peerError == null && t instanceof IOException && !(t instanceof MigrationException)) {
            why = "connection to the destination failed: " + why;
        }
        errorDesc = why;
        failure = t;
        try {
            if (throttle > 0) vm.throttle(0);
        } catch (RuntimeException ignored) {
            // resuming matters more
        }
        if (paused) {
            paused = false;
            vm.resume();
        }
        endNanos = System.nanoTime();
        setStatus(cancelRequested ? MigrationStatus.CANCELLED : MigrationStatus.FAILED);
    }

    private void migrate() throws Exception {
        arena = Arena.ofConfined();
        bufSeg = arena.allocate(pageSize, pageSize);
        delta = new byte[pageSize];
        deltaSeg = MemorySegment.ofArray(delta);
        zeroSeg = arena.allocate(pageSize, pageSize); // allocate() zeroes
        crc = new CRC32C();
        limiter = new RateLimiter(params::maxBandwidth, () -> cancelRequested || peerError != null);
        OutputStream wire = new BufferedOutputStream(Channels.newOutputStream(channel), 256 * 1024);
        out = new DataOutputStream(new CheckedOutputStream(new Metered(wire), crc));
        startReturnPath(Channels.newInputStream(channel));

        // Setup: a rehearsal of stop-and-copy warms its code; then the dirty log goes on before the
        // first pass, so nothing written during it is lost.
        long r0 = System.nanoTime();
        vm.rehearse();
        setupPauseMs = (System.nanoTime() - r0) / 1_000_000;
        checkAbort();
        dirtyLog.start();
        logStarted = true;
        decideDirtyLogMode();
        if (caps.xbzrle()) {
            encoder = new XbzrlePageEncoder(params.xbzrleCacheSize(), pageSize);
            xbzrleStats = encoder.stats();
        }
        writeHeader();
        dirty = new long[regions.length][];
        for (int r = 0; r < regions.length; r++) {
            dirty[r] = new long[(int) ((regionPages[r] + 63) >>> 6)];
            for (long p = 0; p < regionPages[r]; p++) dirty[r][(int) (p >>> 6)] |= 1L << (p & 63);
        }
        remainingPages = totalPages;
        setupMs = (System.nanoTime() - startNanos) / 1_000_000;
        checkAbort();
        setStatus(MigrationStatus.ACTIVE);

        // Live phase.
        limited = true;
        int iteration = 0;
        int highDirtyRounds = 0;
        while (true) {
            if (encoder != null && encoder.cache().capacityBytes() != cacheBytes(params.xbzrleCacheSize())) {
                encoder.resizeCache(params.xbzrleCacheSize());
            }
            long t0 = System.nanoTime();
            long bytes0 = transferred;
            sendDirty();
            firstPass = false;
            endIteration(iteration);
            out.flush();
            // The round ends when the destination has it: then the bandwidth below is end to end, and
            // no earlier round is still in a socket buffer at the switch-over, where it would be downtime.
            awaitAck(iteration++);
            long dirtyNow = sync();
            long nanos = Math.max(1, System.nanoTime() - t0);
            long sent = transferred - bytes0;
            double bytesPerMs = sent * 1e6 / nanos;
            mbps = sent * 8e3 / nanos;                       // bits per µs = Mbit/s
            dirtyPagesRate = (long) (dirtyNow * 1e9 / nanos);
            long dirtyBytes = dirtyNow * pageSize;
            long expected = bytesPerMs <= 0 ? Long.MAX_VALUE : (long) Math.ceil(dirtyBytes / bytesPerMs);
            expectedDowntimeMs = expected + verifyCostMs();
            if (expected <= params.downtimeLimitMs() || dirtyNow == 0) break;
            if (caps.autoConverge()) {
                // QEMU's rule: throttle up when the guest dirtied more than the trigger threshold of
                // what we managed to send, two syncs in a row.
                if (dirtyBytes * 100 > sent * params.throttleTriggerThreshold()) {
                    if (++highDirtyRounds >= 2) {
                        highDirtyRounds = 0;
                        int next = throttle == 0 ? params.cpuThrottleInitial()
                                : Math.min(params.maxCpuThrottle(), throttle + params.cpuThrottleIncrement());
                        throttle = next;
                        vm.throttle(next);
                    }
                } else {
                    highDirtyRounds = 0;
                }
            }
            checkAbort();
        }

        // Stop and copy.
        checkAbort();
        setStatus(MigrationStatus.DEVICE);
        long downStart = System.nanoTime();
        DowntimeClock clock = new DowntimeClock(downStart);
        precopyBytes = transferred;
        vm.pause();
        paused = true;
        clock.lap("pause");
        limited = false; // as QEMU: the last stage is not rate limited, it is all downtime
        checkAbort();
        sync();
        sendDirty();
        clock.lap("ram");
        if (sentHash != null) verifyAllPages(clock);
        endIteration(iteration);
        out.writeByte(MigrationProtocol.DEVICE);
        StateWriter w = new StateWriter(MigrationProtocol.nonClosing(out));
        vm.writeDeviceState(w);
        w.close();
        out.writeByte(MigrationProtocol.COMPLETE);
        out.writeLong(pageRecords);
        writeCrc();
        out.flush();
        clock.lap("device");
        awaitReady();
        clock.lap("ready");
        downtimeMs = (System.nanoTime() - downStart) / 1_000_000;
        downtimeBreakdown = clock.laps();
        expectedDowntimeMs = 0;
        if (encoder != null) xbzrleStats = encoder.stats();
        // From here on the destination owns the VM: no cancel, no resume.
        try {
            vm.handOver();
        } catch (Exception e) {
            errorDesc = "hand-over to the destination: " + e.getMessage();
        }
        try {
            out.writeByte(MigrationProtocol.GO);
            out.flush();
        } catch (IOException e) {
            // The destination has everything and will start only on GO; if GO is lost it discards,
            // and this VM stays paused ('cont' on the source brings it back), never both running.
            errorDesc = "could not confirm the switch-over (" + e.getMessage() + "); the VM is paused on both sides";
        }
        if (throttle > 0) {
            throttle = 0;
            vm.throttle(0);
        }
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

    private long cacheBytes(long requested) {
        return Math.max(pageSize, requested / pageSize * pageSize);
    }

    private void decideDirtyLogMode() throws Exception {
        boolean verify = switch (params.dirtyLogVerify()) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> {
                if (selfTest == null) yield false;
                DirtyLogSelfTest.Result r = selfTest.run(dirtyLog, pageSize);
                selfTestVerdict = r.toString();
                yield !r.trustworthy();
            }
        };
        if (verify) sentHash = new long[(int) totalPages];
        dirtyLogMode = verify ? "verified" : "kvm";
    }

    private void writeHeader() throws IOException {
        out.write(MigrationProtocol.MAGIC);
        out.writeInt(MigrationProtocol.VERSION);
        out.writeByte(MigrationProtocol.SETUP);
        out.writeInt(pageSize);
        out.writeInt((caps.xbzrle() ? MigrationProtocol.CAP_XBZRLE : 0) | MigrationProtocol.CAP_ITERATION_ACK);
        out.writeInt(regions.length);
        for (GuestRegion r : regions) {
            out.writeLong(r.base());
            out.writeLong(r.size());
        }
        writeCrc();
    }

    private void endIteration(int iteration) throws IOException {
        out.writeByte(MigrationProtocol.END_ITERATION);
        out.writeInt(iteration);
        writeCrc();
    }

    private void writeCrc() throws IOException {
        int value = (int) crc.getValue();
        out.writeInt(value);
        crc.reset();
    }

    /** Folds the dirty log into {@link #dirty}; returns the number of dirty pages. */
    private long sync() throws Exception {
        long count = 0;
        for (int r = 0; r < regions.length; r++) {
            long[] fetched = dirtyLog.fetchAndClear(r);
            long[] d = dirty[r];
            if (fetched.length < d.length) {
                throw new IllegalStateException("dirty log of region " + r + " has " + fetched.length + " words, need " + d.length);
            }
            for (int i = 0; i < d.length; i++) d[i] |= fetched[i];
            int tail = (int) (regionPages[r] & 63);
            if (tail != 0) d[d.length - 1] &= (1L << tail) - 1; // ignore bits past the region
            for (long w : d) count += Long.bitCount(w);
        }
        dirtySyncCount++;
        remainingPages = count;
        return count;
    }

    private final long[] hashScratch = new long[PageHash.SCRATCH_LONGS];
    private long hashNanos;
    private long hashCount;

    private long verifyCostMs() {
        if (sentHash == null || hashCount == 0) return 0;
        return hashNanos / hashCount * totalPages / 1_000_000;
    }

    private void sendDirty() throws Exception {
        long left = remainingPages;
        for (int r = 0; r < regions.length; r++) {
            long[] d = dirty[r];
            for (int i = 0; i < d.length; i++) {
                long w = d[i];
                while (w != 0) {
                    int bit = Long.numberOfTrailingZeros(w);
                    w &= w - 1;
                    d[i] = w;
                    sendPage(r, ((long) i << 6) + bit);
                    remainingPages = --left;
                }
                checkAbort();
            }
        }
        remainingPages = 0;
        if (encoder != null) xbzrleStats = encoder.stats();
    }

    private void sendPage(int r, long index) throws IOException {
        long pfn = firstPfn[r] + index;
        MemorySegment.copy(regions[r].host(), index * pageSize, bufSeg, 0, pageSize);
        if (MemorySegment.mismatch(bufSeg, 0, pageSize, zeroSeg, 0, pageSize) < 0) {
            out.writeByte(MigrationProtocol.ZERO);
            out.writeLong(pfn);
            duplicate++;
            pageRecords++;
            // Keep the cache equal to the destination's page, so a later small write is a delta.
            // As QEMU, the first pass caches no zero page: an idle guest's empty RAM would flush the cache.
            if (encoder != null && (!firstPass || encoder.cache().contains(pfn))) encoder.cache().put(pfn, zeroSeg, 0);
        } else {
            int n = encoder == null ? XbzrlePageEncoder.CACHE_MISS : encoder.encode(pfn, bufSeg, 0, deltaSeg, 0);
            if (n > 0) {
                out.writeByte(MigrationProtocol.XBZRLE);
                out.writeLong(pfn);
                out.writeShort(n);
                out.write(delta, 0, n);
                pageRecords++;
            } else if (n < 0) {
                // Miss or overflow: bufSeg holds exactly the encoder's snapshot, now cached.
                out.writeByte(MigrationProtocol.FULL);
                out.writeLong(pfn);
                MemorySegment.copy(bufSeg, ValueLayout.JAVA_BYTE, 0, buf, 0, pageSize);
                out.write(buf, 0, pageSize);
                normal++;
                pageRecords++;
            } // n == 0: the destination's copy (== cached copy) already equals this page
        }
        if (sentHash != null) {
            long t = System.nanoTime();
            sentHash[(int) (firstIndex[r] + index)] = PageHash.hash(bufSeg, 0, pageSize, hashScratch);
            hashNanos += System.nanoTime() - t;
            hashCount++;
        }
        if ((pageRecords & 255) == 0 && encoder != null) xbzrleStats = encoder.stats();
    }

    /** Verified mode, VM paused: resend every page whose content differs from what was sent. */
    /** Pages hashed per parallel task of the verification pass. */
    private static final int VERIFY_CHUNK_PAGES = 4096;

    /**
     * Stop-and-copy in verified mode: rehashes every page and resends those whose hash differs
     * from what was sent. The VM is paused, so RAM is stable: the hashing runs in parallel on the
     * common fork-join pool (it is most of this pass, and all of it is downtime); the resends
     * then go out in address order on this thread.
     */
    private void verifyAllPages(DowntimeClock clock) throws Exception {
        long resent = 0;
        long hashing = 0;
        for (int r = 0; r < regions.length; r++) {
            MemorySegment host = regions[r].host();
            long pages = regionPages[r];
            long first = firstIndex[r];
            int chunks = (int) ((pages + VERIFY_CHUNK_PAGES - 1) / VERIFY_CHUNK_PAGES);
            java.util.BitSet[] stale = new java.util.BitSet[chunks];
            long h0 = System.nanoTime();
            java.util.stream.IntStream.range(0, chunks).parallel().forEach(c -> {
                java.util.BitSet b = new java.util.BitSet();
                long[] scratch = new long[PageHash.SCRATCH_LONGS];
                long start = (long) c * VERIFY_CHUNK_PAGES, end = Math.min(pages, start + VERIFY_CHUNK_PAGES);
                for (long p = start; p < end; p++) {
                    if (PageHash.hash(host, p * pageSize, pageSize, scratch) != sentHash[(int) (first + p)]) b.set((int) (p - start));
                }
                stale[c] = b;
            });
            hashing += System.nanoTime() - h0;
            checkAbort();
            for (int c = 0; c < chunks; c++) {
                for (int i = stale[c].nextSetBit(0); i >= 0; i = stale[c].nextSetBit(i + 1)) {
                    sendPage(r, (long) c * VERIFY_CHUNK_PAGES + i);
                    resent++;
                    verifiedResent = resent;
                }
                checkAbort();
            }
        }
        clock.split("verify-hash", hashing, "verify-resend");
    }

    private void checkAbort() throws MigrationException {
        if (cancelRequested) throw new MigrationException("migration cancelled");
        String e = peerError;
        if (e != null) throw new MigrationException(e);
    }

    private void awaitAck(int iteration) throws Exception {
        synchronized (acks) {
            while (ackedIteration < iteration) {
                checkAbort();
                acks.wait(20);
            }
        }
    }

    private void awaitReady() throws Exception {
        while (!ready.await(20, TimeUnit.MILLISECONDS)) checkAbort();
        checkAbort();
    }

    private void startReturnPath(InputStream in) {
        returnPath = new Thread(() -> {
            DataInputStream din = new DataInputStream(in);
            try {
                while (true) {
                    int b = din.readUnsignedByte();
                    if (b == MigrationProtocol.ACK) {
                        int it = din.readInt();
                        synchronized (acks) {
                            ackedIteration = Math.max(ackedIteration, it);
                            acks.notifyAll();
                        }
                        continue;
                    }
                    if (b == MigrationProtocol.READY) {
                        ready.countDown();
                    } else if (b == MigrationProtocol.NAK) {
                        peerError = "destination failed: " + din.readUTF();
                    } else {
                        peerError = String.format("destination sent an unknown reply 0x%02x", b);
                    }
                    break;
                }
            } catch (EOFException e) {
                peerError = "destination closed the connection";
            } catch (IOException e) {
                if (!cancelRequested) peerError = "connection to the destination failed: " + e.getMessage();
            }
            if (peerError != null) closeChannel(); // unblock a write the destination will never read
        }, "migration-return-path");
        returnPath.setDaemon(true);
        returnPath.start();
    }

    private void joinReturnPath(long millis) {
        Thread t = returnPath;
        if (t == null) return;
        try {
            t.join(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
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

    /** Counts wire bytes and applies the bandwidth limit during the live phase. */
    private final class Metered extends FilterOutputStream {
        Metered(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            if (limited) limiter.acquire(1);
            out.write(b);
            transferred++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (limited) limiter.acquire(len);
            out.write(b, off, len);
            transferred += len;
        }
    }
}
