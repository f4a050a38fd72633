package dev.vmm.block.nbd;

import java.util.Map;
import java.util.TreeMap;

/**
 * The parts of a read that its content chunks (data and holes) have delivered, as disjoint ranges.
 * proto.md forbids content chunks that overlap an earlier one; a byte count alone cannot see that
 * (the same half sent twice adds up to the whole), so the ranges themselves are kept. Adjacent
 * ranges are merged: a well-behaved server's chunks, in any order, end as one range.
 */
final class ReadCoverage {
    private final TreeMap<Long, Long> ranges = new TreeMap<>(); // start -> end (exclusive)
    private long total;

    /** Records [from, to); false (and nothing recorded) when it overlaps what is already covered. */
    boolean add(long from, long to) {
        Map.Entry<Long, Long> before = ranges.floorEntry(from);
        if (before != null && before.getValue() > from) return false;
        Long after = ranges.ceilingKey(from);
        if (after != null && after < to) return false;
        long start = from, end = to;
        if (before != null && before.getValue() == from) {
            start = before.getKey();
            ranges.remove(start);
        }
        if (after != null && after == to) end = ranges.remove(after);
        ranges.put(start, end);
        total += to - from;
        return true;
    }

    /** Bytes covered so far. */
    long total() { return total; }
}
