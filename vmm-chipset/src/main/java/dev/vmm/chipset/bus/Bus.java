package dev.vmm.chipset.bus;

import java.util.Arrays;

/**
 * An address space (port I/O or MMIO) of non-overlapping ranges, each served by a {@link BusDevice}.
 *
 * <p>Lookups happen on every exit, so the ranges are kept as a sorted array searched by binary
 * search, and replaced copy-on-write when a range is added or removed (rare: boot, BAR
 * reprogramming, hot-plug). Readers never lock.
 */
public final class Bus {
    /** One registered range. */
    public record Range(long base, long length, BusDevice device) {
        public Range {
            if (length <= 0) throw new IllegalArgumentException("empty range at 0x" + Long.toHexString(base));
            // Addresses are unsigned: a signed compare let 0xffff...f000+0x2000 through and refused a range across 2^63.
            if (Long.compareUnsigned(base + length, base) < 0 && base + length != 0) throw new IllegalArgumentException("range wraps");
        }

        long end() { return base + length; }

        boolean contains(long addr) { return Long.compareUnsigned(addr - base, length) < 0; }
    }

    private final String name;
    private volatile Range[] ranges = new Range[0];

    public Bus(String name) {
        this.name = name;
    }

    public String name() { return name; }

    /** Adds a range; throws if it overlaps one already present. */
    public synchronized void register(long base, long length, BusDevice device) {
        Range r = new Range(base, length, device);
        Range[] cur = ranges;
        for (Range o : cur) {
            if (Long.compareUnsigned(r.base, o.end()) < 0 && Long.compareUnsigned(o.base, r.end()) < 0) {
                throw new IllegalArgumentException(String.format("%s: range 0x%x+0x%x overlaps 0x%x+0x%x",
                        name, base, length, o.base, o.length));
            }
        }
        Range[] next = Arrays.copyOf(cur, cur.length + 1);
        next[cur.length] = r;
        Arrays.sort(next, (a, b) -> Long.compareUnsigned(a.base, b.base));
        ranges = next;
    }

    /** Removes the range starting at {@code base} served by {@code device}; returns whether one was removed. */
    public synchronized boolean unregister(long base, BusDevice device) {
        Range[] cur = ranges;
        for (int i = 0; i < cur.length; i++) {
            if (cur[i].base == base && cur[i].device == device) {
                Range[] next = new Range[cur.length - 1];
                System.arraycopy(cur, 0, next, 0, i);
                System.arraycopy(cur, i + 1, next, i, cur.length - i - 1);
                ranges = next;
                return true;
            }
        }
        return false;
    }

    /** The range containing {@code addr}, or null. */
    public Range find(long addr) {
        Range[] rs = ranges;
        int lo = 0, hi = rs.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            Range r = rs[mid];
            if (Long.compareUnsigned(addr, r.base) < 0) hi = mid - 1;
            else if (Long.compareUnsigned(addr, r.end()) >= 0 && r.end() != 0) lo = mid + 1;
            else return r;
        }
        return null;
    }

    /**
     * Dispatches a load. Returns all ones for an unclaimed address, like an undecoded ISA/PCI access
     * (so a probing guest sees "nothing here" rather than a crash).
     */
    public long read(long addr, int size) {
        Range r = find(addr);
        if (r == null) return size >= 8 ? -1L : (1L << (size * 8)) - 1;
        return r.device.read(addr - r.base, size);
    }

    /** Dispatches a store; a store to an unclaimed address is dropped. Returns whether a device took it. */
    public boolean write(long addr, int size, long value) {
        Range r = find(addr);
        if (r == null) return false;
        r.device.write(addr - r.base, size, value);
        return true;
    }

    /** A snapshot of the registered ranges, in address order. */
    public Range[] ranges() {
        return ranges.clone();
    }
}
