package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.TreeSet;

/**
 * The refcount table (kept in memory, at most 8 MiB), the refcount blocks (through a bounded
 * cache) and the cluster allocator. Refcounts of any width (refcount_order 0..6).
 *
 * <p>Ordering rules that make a crash leave at worst leaked clusters, never corruption:
 * an increment may reach the disk any time before the reference to the cluster does; a new refcount
 * block is durable before the table entry that points to it; a decrement is applied only after the
 * reference is gone on disk (the owner queues frees until its flush has synced the L2 tables).
 * Not thread-safe: the owner serialises access.
 */
final class Refcounts {
    private final ImageFile file;
    private final Qcow2Header header;
    private final int clusterBits;
    private final long clusterSize;
    private final int order;
    private final long entriesPerBlock;
    private final long maxRefcount;
    final TableCache blocks;
    long[] table;
    /** Table indexes whose in-memory entry differs from the file. */
    private final TreeSet<Integer> dirtyTableEntries = new TreeSet<>();
    /** Lowest cluster index that may be free. */
    private long freeCursor;
    /** One past the highest cluster index known to be in use or allocated this session. */
    private long highWater;

    Refcounts(ImageFile file, Qcow2Header header, int cacheBlocks) {
        this.file = file;
        this.header = header;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.order = header.refcountOrder;
        this.entriesPerBlock = (clusterSize * 8) >> order;
        this.maxRefcount = order == 6 ? Long.MAX_VALUE : (1L << (1 << order)) - 1;
        this.blocks = new TableCache(file, (int) clusterSize, cacheBlocks, () -> {});
        int n = (int) (Integer.toUnsignedLong(header.refcountTableClusters) * clusterSize / 8);
        ByteBuffer b = ByteBuffer.wrap(file.readBytes(header.refcountTableOffset, n * 8));
        table = new long[n];
        long fileSize = file.size();
        for (int i = 0; i < n; i++) {
            long e = b.getLong(i * 8);
            if ((e & 511) != 0) throw new ImageFormatException("qcow2 refcount table entry " + i + " has reserved bits set (0x" + Long.toHexString(e) + ")");
            if (e != 0 && (e & (clusterSize - 1)) != 0) throw new ImageFormatException("qcow2 refcount block " + i + " offset 0x" + Long.toHexString(e) + " is not cluster aligned");
            if (e != 0 && e > fileSize - clusterSize) throw new ImageFormatException("qcow2 refcount block " + i + " offset 0x" + Long.toHexString(e) + " lies past the end of the file");
            table[i] = e;
        }
        this.highWater = (fileSize + clusterSize - 1) >>> clusterBits;
    }

    long entriesPerBlock() { return entriesPerBlock; }

    long maxRefcount() { return maxRefcount; }

    /**
     * The most clusters one {@link #allocate} may ask for: fewer than one refcount block covers. A
     * longer run in fresh space crosses a region without a block, whose new block (placed in its
     * own region) splits the run, which then crosses the next region, and so on: the allocator
     * created a block per region and regrew the table (8 GiB of file for a 330 KiB write with
     * 512-byte clusters, found by Qcow2CrashStateQemuOracleTest).
     */
    long maxRunClusters() { return entriesPerBlock - 1; }

    /** Refcount of the cluster at index {@code cluster} (0 when no refcount block covers it). */
    long get(long cluster) {
        long bi = cluster / entriesPerBlock;
        if (bi >= table.length || table[(int) bi] == 0) return 0;
        TableCache.Table t = blocks.get(table[(int) bi]);
        return read(t.data, cluster % entriesPerBlock);
    }

    /** Sets a refcount; the covering refcount block must exist. */
    void set(long cluster, long value) {
        long bi = cluster / entriesPerBlock;
        if (bi >= table.length || table[(int) bi] == 0) throw new IllegalStateException("no refcount block for cluster " + cluster);
        if (value < 0 || value > maxRefcount) throw new ImageFormatException("qcow2 refcount overflow for cluster " + cluster);
        TableCache.Table t = blocks.get(table[(int) bi]);
        write(t.data, cluster % entriesPerBlock, value);
        t.dirty = true;
        if (value == 0) freeCursor = Math.min(freeCursor, cluster);
        else highWater = Math.max(highWater, cluster + 1);
    }

    void increment(long cluster) {
        set(cluster, get(cluster) + 1);
    }

    /** Drops one reference; returns the new refcount. Refuses to go below zero (that would be corruption). */
    long decrement(long cluster) {
        long v = get(cluster);
        if (v == 0) throw new ImageFormatException("qcow2 refcount of cluster 0x" + Long.toHexString(cluster << clusterBits) + " would drop below zero");
        set(cluster, v - 1);
        return v - 1;
    }

    private long read(byte[] d, long i) {
        switch (order) {
            case 0, 1, 2 -> {
                int bits = 1 << order;
                long bit = i * bits;
                int v = d[(int) (bit >>> 3)] & 0xff;
                return (v >>> (bit & 7)) & ((1 << bits) - 1);
            }
            case 3 -> { return d[(int) i] & 0xffL; }
            case 4 -> { return ((d[(int) i * 2] & 0xff) << 8) | (d[(int) i * 2 + 1] & 0xff); }
            case 5 -> { return ByteBuffer.wrap(d).getInt((int) i * 4) & 0xffffffffL; }
            default -> {
                long v = (long) TableCache.BE_LONG.get(d, (int) i * 8);
                if (v < 0) throw new ImageFormatException("qcow2 64-bit refcount too large");
                return v;
            }
        }
    }

    private void write(byte[] d, long i, long value) {
        switch (order) {
            case 0, 1, 2 -> {
                int bits = 1 << order;
                long bit = i * bits;
                int idx = (int) (bit >>> 3), shift = (int) (bit & 7), mask = ((1 << bits) - 1) << shift;
                d[idx] = (byte) ((d[idx] & ~mask) | (((int) value << shift) & mask));
            }
            case 3 -> d[(int) i] = (byte) value;
            case 4 -> { d[(int) i * 2] = (byte) (value >>> 8); d[(int) i * 2 + 1] = (byte) value; }
            case 5 -> ByteBuffer.wrap(d).putInt((int) i * 4, (int) value);
            default -> TableCache.BE_LONG.set(d, (int) i * 8, value);
        }
    }

    /** Allocates {@code n} (at most {@link #maxRunClusters()}) contiguous clusters with refcount 1; returns the host offset of the first. */
    long allocate(long n) {
        if (n > maxRunClusters()) throw new IllegalArgumentException("allocation of " + n + " clusters exceeds " + maxRunClusters());
        while (true) {
            long start = findFreeRun(n);
            long missing = -1;
            for (long c = start; c < start + n; c = (c / entriesPerBlock + 1) * entriesPerBlock) {
                long bi = c / entriesPerBlock;
                if (bi >= table.length || table[(int) bi] == 0) { missing = bi; break; }
            }
            if (missing < 0) {
                for (long c = start; c < start + n; c++) set(c, 1);
                freeCursor = start + n;
                return start << clusterBits;
            }
            if (missing >= table.length) {
                growTable(missing + 1);
            } else {
                // The block describes itself, so it lies in its own region: right after the run when
                // the run enters the region (the run stays whole: it is shorter than a region), else
                // at the run's start (the run then moves up by one, still inside the region).
                long loc = missing * entriesPerBlock > start ? start + n : start;
                createBlock((int) missing, loc);
            }
        }
    }

    private long findFreeRun(long n) {
        long c = freeCursor, run = 0;
        while (run < n) {
            if (get(c + run) == 0) run++;
            else { c = c + run + 1; run = 0; }
        }
        freeCursor = c;
        return c;
    }

    /** Creates refcount block {@code index} in cluster {@code loc} (which lies in the block's own region). */
    private void createBlock(int index, long loc) {
        blocks.create(loc << clusterBits, null);
        table[index] = loc << clusterBits;
        dirtyTableEntries.add(index);
        set(loc, 1);
    }

    /** Whether table entries point to blocks that are not yet written: the owner must write blocks, sync, then entries. */
    boolean tableDirty() { return !dirtyTableEntries.isEmpty(); }

    /** Writes dirty refcount blocks (no sync). */
    void writeBlocks() { blocks.writeDirty(); }

    /** Writes dirty table entries; the blocks they point to must already be durable. */
    void writeTableEntries() {
        for (int i : dirtyTableEntries) {
            byte[] e = new byte[8];
            TableCache.BE_LONG.set(e, 0, table[i]);
            file.write(header.refcountTableOffset + (long) i * 8, e);
        }
        dirtyTableEntries.clear();
    }

    /**
     * Moves the refcount table to a bigger one at the end of the file, with new refcount blocks for
     * the clusters it occupies, and switches the header to it. Syncs several times: it is rare.
     */
    private void growTable(long minEntries) {
        long perCluster = clusterSize / 8;
        long entries = Math.max(minEntries, table.length * 2L);
        while (true) {
            long tableClusters = (entries + perCluster - 1) / perCluster;
            if (tableClusters * clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
                throw new ImageFormatException("qcow2 refcount table would exceed " + (Qcow2Header.MAX_REFTABLE_BYTES >> 20) + " MiB");
            }
            long start = Math.max(highWater, (file.size() + clusterSize - 1) >>> clusterBits);
            long end = start + tableClusters;
            List<long[]> newBlocks = new ArrayList<>(); // {region, cluster}
            BitSet planned = new BitSet();
            boolean changed = true;
            while (changed) {
                changed = false;
                for (long r = start / entriesPerBlock; r <= (end - 1) / entriesPerBlock; r++) {
                    boolean exists = r < table.length && table[(int) r] != 0;
                    if (!exists && r < Integer.MAX_VALUE && !planned.get((int) r)) {
                        planned.set((int) r);
                        newBlocks.add(new long[] {r, end++});
                        changed = true;
                    }
                }
            }
            long maxRegion = Math.max(minEntries - 1, (end - 1) / entriesPerBlock);
            if (maxRegion >= tableClusters * perCluster) { entries = maxRegion + 1; continue; }

            // Flush what is pending so that the switch happens on a consistent base.
            writeBlocks();
            file.sync();
            writeTableEntries();
            long[] grown = java.util.Arrays.copyOf(table, (int) (tableClusters * perCluster));
            for (long[] nb : newBlocks) {
                grown[(int) nb[0]] = nb[1] << clusterBits;
                blocks.create(nb[1] << clusterBits, null);
            }
            long[] old = table;
            long oldOffset = header.refcountTableOffset;
            int oldClusters = header.refcountTableClusters;
            table = grown;
            for (long c = start; c < end; c++) set(c, 1);
            byte[] t = new byte[(int) (tableClusters * clusterSize)];
            for (int i = 0; i < grown.length; i++) TableCache.BE_LONG.set(t, i * 8, grown[i]);
            writeBlocks();
            file.write(start << clusterBits, t);
            file.sync();
            ByteBuffer h = ByteBuffer.allocate(12);
            h.putLong(0, start << clusterBits).putInt(8, (int) tableClusters);
            file.write(Qcow2Header.OFF_REFTABLE, h.array());
            file.sync();
            header.refcountTableOffset = start << clusterBits;
            header.refcountTableClusters = (int) tableClusters;
            highWater = Math.max(highWater, end);
            // The old table is unreferenced now: release its clusters.
            for (long c = 0; c < oldClusters; c++) decrement((oldOffset >>> clusterBits) + c);
            assert old.length > 0;
            return;
        }
    }

    /** Index of the cluster one past the last cluster in use (by file size or allocation). */
    long highWater() { return highWater; }

    /** Forgets cached state after a failure; the file is the truth. */
    void reset() {
        blocks.clear();
    }

    /** Sets a refcount, creating the covering block at the end of the file if it is missing (repair). */
    void setCreating(long cluster, long value) {
        long bi = cluster / entriesPerBlock;
        while (bi >= table.length) growTable(bi + 1);
        if (table[(int) bi] == 0) {
            if (value == 0) return;
            long loc = allocateForBlock();
            blocks.create(loc << clusterBits, null);
            table[(int) bi] = loc << clusterBits;
            dirtyTableEntries.add((int) bi);
            // loc's own refcount (maybe in the block just created).
            setCreating(loc, 1);
        }
        set(cluster, value);
    }

    private long allocateForBlock() {
        long loc = Math.max(highWater, (file.size() + clusterSize - 1) >>> clusterBits);
        highWater = loc + 1;
        return loc;
    }
}
