package dev.vmm.virtio.queue;

import dev.vmm.memory.GuestMemory;

/**
 * Public face of this package's test driver ({@link GuestDriver}, {@link FakeGuestMemory}) for
 * device tests in other packages: shared guest RAM (device code may run on backend threads) and
 * driver-side queues laid out one after another from a bump allocator.
 */
public final class TestRings implements AutoCloseable {
    private final FakeGuestMemory fake;
    private final long base;
    private long next;
    private final long end;

    /** {@code size} bytes of guest RAM at {@code base}, usable from any thread. */
    public TestRings(long base, long size) {
        this.fake = FakeGuestMemory.shared(base, size);
        this.base = base;
        this.next = base;
        this.end = base + size;
    }

    /**
     * For a fixture reused across fuzz inputs: back to the state of a new instance. Fails if anything
     * was written outside RAM; then zeroes all of RAM and rewinds the allocator, so the next rings are
     * laid out at the same addresses as in a fresh instance. (Guards intact + RAM zero + allocator at
     * the base is all the state there is.)
     */
    public void rewind() {
        if (!guardsIntact()) throw new AssertionError("write outside guest RAM");
        fake.memory.regions().forEach(r -> r.host().fill((byte) 0));
        next = base;
    }

    public GuestMemory memory() { return fake.memory; }

    /** Reserves {@code len} bytes of guest RAM aligned to {@code align}; returns the address. */
    public long alloc(long len, long align) {
        long at = (next + align - 1) & -align;
        if (at + len > end) throw new IllegalStateException("test RAM exhausted");
        next = at + len;
        return at;
    }

    /** A driver-side queue of {@code size} entries with freshly allocated, zeroed rings. */
    public Driver queue(int size) {
        long desc = alloc(SplitQueue.descTableBytes(size), 16);
        long avail = alloc(SplitQueue.availRingBytes(size), 2);
        long used = alloc(SplitQueue.usedRingBytes(size), 4);
        return new Driver(new GuestDriver(fake.memory, size, desc, avail, used));
    }

    /** Whether nothing was written outside guest RAM. */
    public boolean guardsIntact() { return fake.guardsIntact(); }

    @Override
    public void close() { fake.close(); }

    /** One element of the used ring. */
    public record Used(int id, int len) { }

    /** The guest driver's view of one virtqueue. */
    public static final class Driver {
        private final GuestDriver d;

        private Driver(GuestDriver d) { this.d = d; }

        /** Configures {@code q} as a transport would after this driver's register writes (not activated). */
        public SplitQueue configure(SplitQueue q) { return d.configure(q, false); }

        /** Makes a chain of one device-writable buffer available; returns its head. */
        public int addWritable(long addr, int len) { return d.add(GuestDriver.Buf.w(addr, len)); }

        /** Makes a chain of one device-readable buffer available; returns its head. */
        public int addReadable(long addr, int len) { return d.add(GuestDriver.Buf.r(addr, len)); }

        /** Makes a chain of several buffers available; {@code writable[i]} says which are device-writable. */
        public int add(long[] addrs, int[] lens, boolean[] writable) {
            GuestDriver.Buf[] bufs = new GuestDriver.Buf[addrs.length];
            for (int i = 0; i < bufs.length; i++) bufs[i] = new GuestDriver.Buf(addrs[i], lens[i], writable[i]);
            return d.add(bufs);
        }

        /** Publishes a raw head in the available ring (for malformed rings). */
        public void publishRaw(int head) { d.publish(head); }

        /** Writes descriptor {@code index} directly (for malformed chains). */
        public void writeDesc(int index, long addr, int len, int flags, int next) { d.writeDesc(index, addr, len, flags, next); }

        /** The next used element, or null. */
        public Used pollUsed() {
            GuestDriver.Used u = d.pollUsed();
            return u == null ? null : new Used(u.id(), u.len());
        }

        public int usedIdx() { return d.usedIdx(); }

        public int freeCount() { return d.freeCount(); }
    }
}
