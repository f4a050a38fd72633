package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;

import java.io.DataInputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongPredicate;

/**
 * A VM without KVM for migration tests: two RAM regions over an arena, a "vCPU" mutator thread
 * rewriting a working set of pages and a counter, and a dirty log that records the mutator's
 * writes exactly — or, when lying, misses the writes to chosen pages, like KVM's log on a PVM host
 * misses writes by emulated guest code.
 */
final class FakeVm implements VmControl, AutoCloseable {
    static final int PAGE = 4096;
    static final long REGION0_BASE = 0, REGION0_SIZE = 4L << 20;
    static final long REGION1_BASE = 16L << 20, REGION1_SIZE = 2L << 20;

    final Arena arena = Arena.ofShared();
    final GuestMemory memory = newMemory(arena);
    final Log dirtyLog;
    final long[] workingSet;
    /** Pages whose guest writes the lying log does not see. */
    final long lyingPage = REGION1_BASE + 5 * PAGE;

    private final Object lock = new Object();
    private boolean pauseRequested;
    private boolean parked;
    private boolean stopMutator;
    private volatile int throttlePercent;
    final List<Integer> throttleCalls = new CopyOnWriteArrayList<>();
    final AtomicInteger pauses = new AtomicInteger();
    final AtomicInteger resumes = new AtomicInteger();
    volatile long counter;
    volatile byte[] ramAtPause;
    volatile long counterAtPause;
    private Thread mutator;

    FakeVm(boolean lying, int workingSetPages) {
        this.dirtyLog = new Log(memory, lying ? gpa -> (gpa & ~(PAGE - 1L)) == lyingPage : gpa -> false);
        Random rnd = new Random(42);
        // Some non-zero content: the first 256 pages of each region are random, the rest zero.
        for (GuestRegion r : memory.regions()) {
            byte[] b = new byte[256 * PAGE];
            rnd.nextBytes(b);
            memory.write(r.base(), b);
        }
        workingSet = new long[workingSetPages];
        for (int i = 0; i < workingSetPages; i++) {
            // Spread over both regions, inside the random content.
            workingSet[i] = i % 2 == 0 ? REGION0_BASE + (100 + i) * (long) PAGE : REGION1_BASE + (10 + i) * (long) PAGE;
        }
    }

    static GuestMemory newMemory(Arena arena) {
        return new GuestMemory(List.of(
                new GuestRegion(0, REGION0_BASE, arena.allocate(REGION0_SIZE, PAGE)),
                new GuestRegion(1, REGION1_BASE, arena.allocate(REGION1_SIZE, PAGE))));
    }

    /** A guest store: memory first, then the dirty bit (as KVM reports it no earlier than the write). */
    void guestWrite(long gpa, long value) {
        memory.writeU64(gpa, value);
        dirtyLog.mark(gpa);
    }

    /** Starts the vCPU: rewrites (100 - throttle)% of the working set and the lying page, over and over. */
    void startMutator() {
        mutator = new Thread(() -> {
            long n = 0;
            while (true) {
                synchronized (lock) {
                    if (stopMutator) return;
                    if (pauseRequested) {
                        // The guest's last act before it stops: a write the lying log will miss.
                        guestWrite(lyingPage + 8, ++n);
                        parked = true;
                        lock.notifyAll();
                        while (pauseRequested && !stopMutator) waitQuietly();
                        parked = false;
                        continue;
                    }
                }
                int active = workingSet.length * (100 - throttlePercent) / 100;
                for (int i = 0; i < active; i++) {
                    n++;
                    // A few bytes per page change: an 8-byte counter at a moving offset.
                    guestWrite(workingSet[i] + (n * 8 % PAGE), n);
                }
                guestWrite(lyingPage, n);
                counter = n;
                if (throttlePercent > 0) Thread.onSpinWait();
            }
        }, "fake-vcpu");
        mutator.setDaemon(true);
        mutator.start();
    }

    private void waitQuietly() {
        try {
            lock.wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    boolean running() {
        synchronized (lock) {
            return mutator != null && mutator.isAlive() && !pauseRequested;
        }
    }

    @Override
    public void pause() throws InterruptedException {
        synchronized (lock) {
            pauseRequested = true;
            while (!parked && mutator != null && mutator.isAlive()) lock.wait();
        }
        pauses.incrementAndGet();
        ramAtPause = ramBytes(memory);
        counterAtPause = counter;
    }

    @Override
    public void resume() {
        synchronized (lock) {
            pauseRequested = false;
            lock.notifyAll();
        }
        resumes.incrementAndGet();
    }

    @Override
    public void writeDeviceState(StateWriter w) throws IOException {
        long c = counter;
        w.section("counter", 1, 8, o -> o.writeLong(c));
    }

    final java.util.concurrent.atomic.AtomicInteger rehearsals = new java.util.concurrent.atomic.AtomicInteger();
    volatile boolean dirtyLogOnAtRehearsal;

    @Override
    public void rehearse() {
        dirtyLogOnAtRehearsal = dirtyLog.started;
        rehearsals.incrementAndGet();
    }

    /** Hand-overs seen, and whether the destination had started by then (it must not: GO comes after). */
    final java.util.concurrent.atomic.AtomicInteger handOvers = new java.util.concurrent.atomic.AtomicInteger();
    volatile java.util.function.BooleanSupplier peerStarted = () -> false;
    volatile Boolean peerStartedAtHandOver;

    @Override
    public void handOver() {
        peerStartedAtHandOver = peerStarted.getAsBoolean();
        handOvers.incrementAndGet();
    }

    @Override
    public void throttle(int percent) {
        throttleCalls.add(percent);
        throttlePercent = percent;
    }

    long counterNow() { return counter; }

    int throttlePercent() { return throttlePercent; }

    static byte[] ramBytes(GuestMemory m) {
        int total = (int) m.size();
        byte[] all = new byte[total];
        int off = 0;
        for (GuestRegion r : m.regions()) {
            MemorySegment.copy(r.host(), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, all, off, (int) r.size());
            off += (int) r.size();
        }
        return all;
    }

    @Override
    public void close() throws InterruptedException {
        synchronized (lock) {
            stopMutator = true;
            lock.notifyAll();
        }
        if (mutator != null) mutator.join(5000);
        arena.close();
    }

    /** The fake dirty log: bits set by {@link #mark}, fetched and cleared word by word atomically. */
    static final class Log implements DirtyLog {
        private final GuestMemory memory;
        private final LongPredicate missed;
        private final AtomicLongArray[] bits;
        volatile boolean started;
        volatile boolean stopped;
        final AtomicInteger fetches = new AtomicInteger();
        /** Runs at each fetch of region 0, before the bits are taken (scripted workloads). */
        volatile Runnable onSync = () -> { };

        Log(GuestMemory memory, LongPredicate missed) {
            this.memory = memory;
            this.missed = missed;
            List<AtomicLongArray> l = new ArrayList<>();
            for (GuestRegion r : memory.regions()) l.add(new AtomicLongArray((int) ((r.size() / PAGE + 63) / 64)));
            bits = l.toArray(AtomicLongArray[]::new);
        }

        void mark(long gpa) {
            if (!started || stopped || missed.test(gpa)) return;
            List<GuestRegion> rs = memory.regions();
            for (int i = 0; i < rs.size(); i++) {
                GuestRegion r = rs.get(i);
                if (r.contains(gpa, 1)) {
                    long p = (gpa - r.base()) / PAGE;
                    int w = (int) (p >>> 6);
                    long bit = 1L << (p & 63);
                    bits[i].getAndUpdate(w, v -> v | bit);
                    return;
                }
            }
        }

        @Override
        public void start() { started = true; }

        @Override
        public long[] fetchAndClear(int regionIndex) {
            if (regionIndex == 0) onSync.run();
            fetches.incrementAndGet();
            AtomicLongArray a = bits[regionIndex];
            long[] out = new long[a.length()];
            for (int i = 0; i < out.length; i++) out[i] = a.getAndSet(i, 0);
            return out;
        }

        @Override
        public void stop() { stopped = true; }
    }

    /** The destination: its own RAM, the counter from the device state, and what happened to it. */
    static final class Target implements IncomingTarget, AutoCloseable {
        final Arena arena = Arena.ofShared();
        final GuestMemory memory;
        volatile long counter = -1;
        volatile boolean started;
        volatile Throwable discarded;
        volatile String refuseDeviceState;

        Target() {
            this.memory = newMemory(arena);
        }

        Target(GuestMemory memory) {
            this.memory = memory;
        }

        @Override
        public GuestMemory memory() { return memory; }

        @Override
        public void loadDeviceState(StateReader reader) throws IOException {
            reader.readAll(new StateReader.Handler() {
                @Override
                public int maxVersion(String name) { return name.equals("counter") ? 1 : -1; }

                @Override
                public void read(String name, int version, long length, DataInputStream in) throws IOException {
                    if (refuseDeviceState != null) throw new dev.vmm.migration.stream.StateFormatException(refuseDeviceState);
                    counter = in.readLong();
                }
            });
        }

        @Override
        public void start() { started = true; }

        @Override
        public void discard(Throwable cause) { discarded = cause; }

        @Override
        public void close() { arena.close(); }
    }
}
