package dev.vmm.block.qcow2;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormatException;
import dev.vmm.block.ImageInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A qcow2 image (versions 2 and 3), read-write.
 *
 * <p>Threading: metadata (L1, the L2 and refcount caches, the allocator) is guarded by one lock.
 * Writes, discards and flushes hold it for their whole duration; reads hold it only to translate
 * guest offsets, then read the data (or the backing file) without it, so reads run in parallel.
 *
 * <p>Crash safety (non-lazy images): data and refcount increments are made durable before the L2
 * entries that reference them, L2 tables before the L1 entries that point to them, and refcount
 * decrements happen only after the reference is durably gone. A crash can leak clusters but never
 * leaves a reference to a cluster with refcount 0 or loses a write that completed before a flush.
 * With lazy refcounts the dirty bit is set on the first write and refcounts are rebuilt on the
 * next read-write open after a crash.
 */
public final class Qcow2Image implements BlockDevice {
    static final long OFFSET_MASK = 0x00fffffffffffe00L;
    static final long COPIED = 1L << 63, COMPRESSED = 1L << 62, ZERO_FLAG = 1L;
    static final long L1_RESERVED = 0x7f000000000001ffL;
    private static final long L2_RESERVED = 0x3f000000000001feL;
    private static final int KIND_UNALLOCATED = 0, KIND_ZERO = 1, KIND_DATA = 2, KIND_COMPRESSED = 3;
    private static final int L2_CACHE_BYTES = 4 << 20, REFCOUNT_CACHE_BYTES = 1 << 20;
    private static final long MAX_RUN_BYTES = 4L << 20;

    private final ImageFile file;
    private final Qcow2Header header;
    private final BlockDevice backing;
    private final boolean readOnly;
    private final int clusterBits;
    private final long clusterSize;
    private final int l2Entries;
    private final long[] l1;
    private final TreeSet<Integer> dirtyL1 = new TreeSet<>();
    private final TableCache l2Cache;
    private final Refcounts refcounts;
    private final List<Qcow2Snapshots.Entry> snapshots;
    private final ReentrantLock lock = new ReentrantLock();
    /** Host clusters whose reference was dropped but whose refcount decrement waits for the next flush. {offset, clusters} */
    private final List<long[]> pendingFrees = new ArrayList<>();
    private final CompressedCache compressedCache = new CompressedCache();
    private long fileLength;
    private boolean unsynced;
    private boolean dirtyBitSet;
    private boolean closed;

    /** A translated guest range of uniform kind. */
    private record Mapping(int kind, long host, long length, long descriptor) {}

    private Qcow2Image(ImageFile file, Qcow2Header header, BlockDevice backing, boolean readOnly) {
        this.file = file;
        this.header = header;
        this.backing = backing;
        this.readOnly = readOnly;
        this.clusterBits = header.clusterBits;
        this.clusterSize = header.clusterSize();
        this.l2Entries = (int) header.l2Entries();
        this.fileLength = file.size();
        int l1n = header.l1Size;
        ByteBuffer b = ByteBuffer.wrap(l1n == 0 ? new byte[0] : file.readBytes(header.l1TableOffset, l1n * 8));
        this.l1 = new long[l1n];
        for (int i = 0; i < l1n; i++) {
            // An entry with reserved bits set is refused when it is used (requireValidL1), not here:
            // the image must still open so that 'check' can report it, as qemu-img check does.
            l1[i] = b.getLong(i * 8);
        }
        this.l2Cache = new TableCache(file, (int) clusterSize, (int) Math.max(16, L2_CACHE_BYTES / clusterSize), this::beforeL2Write);
        this.refcounts = new Refcounts(file, header, (int) Math.max(8, REFCOUNT_CACHE_BYTES / clusterSize));
        this.snapshots = header.nbSnapshots == 0 ? List.of() : Qcow2Snapshots.read(file, header);
    }

    /**
     * Opens a qcow2 image over an already open file. {@code backing} is the opened backing chain
     * (null when the image has none); this image owns both from now on.
     */
    public static Qcow2Image open(ImageFile file, Qcow2Header header, BlockDevice backing, boolean readOnly) {
        if (!readOnly) {
            if (header.corrupt()) throw new ImageFormatException("qcow2 image is marked corrupt; it can only be opened read-only (repair it with 'qemu-img check -r all')");
            if (header.extendedL2()) throw new ImageFormatException("writing qcow2 images with extended L2 entries is not supported; open it read-only");
        }
        Qcow2Image img = new Qcow2Image(file, header, backing, readOnly);
        if (!readOnly) img.prepareForWriting();
        return img;
    }

    public static Qcow2Header readHeader(ImageFile file) {
        return Qcow2Header.read(file);
    }

    private void prepareForWriting() {
        if (header.dirty()) {
            // Not closed cleanly with lazy refcounts: refcounts on disk may be stale; rebuild them.
            Qcow2Checker.Result r = new Qcow2Checker(this).run();
            if (r.corruptions() > 0 && r.referencesOutsideFile() > 0) {
                throw new ImageFormatException("qcow2 image is dirty and its metadata points outside the file; cannot repair");
            }
            new Qcow2Checker(this).rebuildRefcounts();
            refcounts.writeBlocks();
            sync();
            refcounts.writeTableEntries();
            sync();
            writeHeaderLong(Qcow2Header.OFF_INCOMPAT, header.incompatible & ~Qcow2Header.INCOMPAT_DIRTY);
            header.incompatible &= ~Qcow2Header.INCOMPAT_DIRTY;
            sync();
        }
        if (header.version >= 3 && header.autoclear != 0) {
            // Autoclear features (bitmaps) are not maintained here: clearing the bits tells others so.
            writeHeaderLong(Qcow2Header.OFF_AUTOCLEAR, 0);
            header.autoclear = 0;
            sync();
        }
    }

    // ---- accessors used by the checker and tests ----
    ImageFile file() { return file; }
    Qcow2Header header() { return header; }
    long[] l1() { return l1; }
    Refcounts refcounts() { return refcounts; }
    List<Qcow2Snapshots.Entry> snapshots() { return snapshots; }

    @Override public long size() { return header.size; }

    @Override public boolean readOnly() { return readOnly; }

    @Override public String format() { return "qcow2"; }

    public BlockDevice backing() { return backing; }

    // ---- translation ----

    private long requireValidL1(int i) {
        long e = l1[i];
        if ((e & L1_RESERVED) != 0) throw new ImageFormatException("qcow2 L1 entry " + i + " has reserved bits set (0x" + Long.toHexString(e) + ")");
        return e;
    }

    /** L2 entry index space: guest cluster -> (L1 index, L2 index). */
    private long l2EntryFor(long guestCluster, long[] bitmapOut) {
        int l1i = (int) (guestCluster / l2Entries);
        int l2i = (int) (guestCluster % l2Entries);
        long l1e = requireValidL1(l1i);
        long l2off = l1e & OFFSET_MASK;
        if (l2off == 0) {
            if (bitmapOut != null) bitmapOut[0] = 0;
            return 0;
        }
        checkMetadataOffset("L2 table", l2off);
        TableCache.Table t = l2Cache.get(l2off);
        if (header.extendedL2()) {
            if (bitmapOut != null) bitmapOut[0] = t.getLong(l2i * 2 + 1);
            return t.getLong(l2i * 2);
        }
        return t.getLong(l2i);
    }

    private void checkMetadataOffset(String what, long off) {
        if ((off & (clusterSize - 1)) != 0) throw new ImageFormatException("qcow2 " + what + " offset 0x" + Long.toHexString(off) + " is not cluster aligned (image is corrupt)");
        if (off > fileLength - clusterSize) throw new ImageFormatException("qcow2 " + what + " offset 0x" + Long.toHexString(off) + " lies past the end of the file (image is corrupt)");
    }

    /** Translates the guest range at {@code off} (at most {@code max} bytes) inside one cluster. Caller holds the lock. */
    private Mapping mapOne(long off, long max) {
        long gc = off >>> clusterBits;
        long inCluster = off & (clusterSize - 1);
        long len = Math.min(max, clusterSize - inCluster);
        long[] bitmap = new long[1];
        long e = l2EntryFor(gc, bitmap);
        if ((e & COMPRESSED) != 0) {
            return new Mapping(KIND_COMPRESSED, -1, len, e & ~(COPIED | COMPRESSED));
        }
        if ((e & L2_RESERVED) != 0 && !header.extendedL2()) {
            throw new ImageFormatException("qcow2 L2 entry for guest offset 0x" + Long.toHexString(off) + " has reserved bits set (image is corrupt)");
        }
        long host = e & OFFSET_MASK;
        if (header.extendedL2()) {
            long sub = clusterSize / 32;
            int s = (int) (inCluster / sub);
            len = Math.min(len, sub - inCluster % sub);
            long bm = bitmap[0];
            if ((bm >>> s & 1) != 0) {
                checkDataOffset(off, host);
                return new Mapping(KIND_DATA, host + inCluster, len, 0);
            }
            if ((bm >>> (32 + s) & 1) != 0) return new Mapping(KIND_ZERO, -1, len, 0);
            return new Mapping(KIND_UNALLOCATED, -1, len, 0);
        }
        // A zero cluster may keep its allocation: block status reports that host offset, as QEMU's does.
        if ((e & ZERO_FLAG) != 0 && header.version >= 3) return new Mapping(KIND_ZERO, host == 0 ? -1 : host + inCluster, len, 0);
        if (host == 0) return new Mapping(KIND_UNALLOCATED, -1, len, 0);
        checkDataOffset(off, host);
        return new Mapping(KIND_DATA, host + inCluster, len, 0);
    }

    private void checkDataOffset(long guest, long host) {
        if ((host & (clusterSize - 1)) != 0 || host > fileLength - 1 || host == 0) {
            throw new ImageFormatException("qcow2 data cluster for guest offset 0x" + Long.toHexString(guest) + " is at invalid offset 0x"
                    + Long.toHexString(host) + " (image is corrupt)");
        }
    }

    /** Translates a run of clusters of the same kind (contiguous on the host for data). Caller holds the lock. */
    private Mapping mapRun(long off, long max) {
        Mapping m = mapOne(off, max);
        if (m.kind == KIND_COMPRESSED) return m;
        long len = m.length;
        long limit = Math.min(max, MAX_RUN_BYTES);
        while (len < limit) {
            Mapping n = mapOne(off + len, limit - len);
            if (n.kind != m.kind || (n.host < 0) != (m.host < 0) || (m.host >= 0 && n.host != m.host + len)) break;
            len += n.length;
        }
        return new Mapping(m.kind, m.host, len, m.descriptor);
    }

    // ---- reads ----

    @Override
    public void read(long offset, MemorySegment dst) {
        checkOpen();
        checkRange(offset, dst.byteSize());
        long len = dst.byteSize();
        for (long done = 0; done < len; ) {
            Mapping m;
            lock.lock();
            try {
                m = mapRun(offset + done, len - done);
            } finally {
                lock.unlock();
            }
            readMapped(m, offset + done, dst.asSlice(done, m.length));
            done += m.length;
        }
    }

    private void readMapped(Mapping m, long guest, MemorySegment part) {
        switch (m.kind) {
            case KIND_DATA -> file.read(m.host, part);
            case KIND_ZERO -> part.fill((byte) 0);
            case KIND_UNALLOCATED -> readBacking(guest, part);
            default -> {
                byte[] cluster = decompress(m.descriptor);
                int in = (int) (guest & (clusterSize - 1));
                MemorySegment.copy(MemorySegment.ofArray(cluster), in, part, 0, part.byteSize());
            }
        }
    }

    private void readBacking(long guest, MemorySegment part) {
        if (backing == null || guest >= backing.size()) {
            part.fill((byte) 0);
            return;
        }
        long n = Math.min(part.byteSize(), backing.size() - guest);
        backing.read(guest, part.asSlice(0, n));
        if (n < part.byteSize()) part.asSlice(n).fill((byte) 0);
    }

    /** Host offset and byte length of a compressed cluster's data. */
    private long[] compressedRange(long descriptor) {
        int x = 62 - (clusterBits - 8);
        long host = descriptor & ((1L << x) - 1);
        long sectors = (descriptor >>> x) & ((1L << (62 - x)) - 1);
        long size = (sectors + 1) * 512 - (host & 511);
        return new long[] {host, size};
    }

    private byte[] decompress(long descriptor) {
        byte[] cached = compressedCache.get(descriptor);
        if (cached != null) return cached;
        long[] r = compressedRange(descriptor);
        if (r[0] == 0 || r[0] >= fileLength) {
            throw new ImageFormatException("qcow2 compressed cluster at 0x" + Long.toHexString(r[0]) + " lies outside the file (image is corrupt)");
        }
        if (r[1] > 2 * clusterSize + 512) throw new ImageFormatException("qcow2 compressed cluster at 0x" + Long.toHexString(r[0]) + " is too large");
        byte[] in = file.readBytes(r[0], (int) r[1]);
        byte[] out = new byte[(int) clusterSize];
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(in);
            int n = 0;
            while (n < out.length) {
                int k = inf.inflate(out, n, out.length - n);
                if (k == 0 && (inf.finished() || inf.needsInput() || inf.needsDictionary())) break;
                n += k;
            }
            if (n != out.length) throw new ImageFormatException("qcow2 compressed cluster at 0x" + Long.toHexString(r[0]) + " is corrupt (inflates to " + n + " bytes)");
        } catch (DataFormatException e) {
            throw new ImageFormatException("qcow2 compressed cluster at 0x" + Long.toHexString(r[0]) + " is corrupt: " + e.getMessage());
        } finally {
            inf.end();
        }
        compressedCache.put(descriptor, out);
        return out;
    }

    /** The last few decompressed clusters, so that small sequential reads do not inflate a cluster many times. */
    private static final class CompressedCache {
        private final LinkedHashMap<Long, byte[]> map = new LinkedHashMap<>(8, 0.75f, true) {
            @Override protected boolean removeEldestEntry(Map.Entry<Long, byte[]> e) { return size() > 4; }
        };
        synchronized byte[] get(long k) { return map.get(k); }
        synchronized void put(long k, byte[] v) { map.put(k, v); }
        synchronized void clear() { map.clear(); }
    }

    // ---- writes ----

    @Override
    public void write(long offset, MemorySegment src) {
        checkOpen();
        checkWritable();
        checkRange(offset, src.byteSize());
        lock.lock();
        try {
            markDirtyIfLazy();
            long len = src.byteSize();
            for (long done = 0; done < len; ) {
                done += writeRun(offset + done, src.asSlice(done));
            }
        } catch (RuntimeException e) {
            failed();
            throw e;
        } finally {
            lock.unlock();
        }
    }

    /** Whether the guest cluster's data can be overwritten where it is. */
    private boolean writableInPlace(long l2e) {
        return (l2e & COPIED) != 0 && (l2e & COMPRESSED) == 0 && (l2e & ZERO_FLAG) == 0 && (l2e & OFFSET_MASK) != 0;
    }

    /** Writes a prefix of {@code src} at {@code off}; returns how many bytes it wrote. Caller holds the lock. */
    private long writeRun(long off, MemorySegment src) {
        long gc = off >>> clusterBits;
        long inCluster = off & (clusterSize - 1);
        long e = l2EntryFor(gc, null);
        if (writableInPlace(e)) {
            long host = e & OFFSET_MASK;
            checkDataOffset(off, host);
            long n = Math.min(src.byteSize(), clusterSize - inCluster);
            // Extend over following clusters that are contiguous on the host.
            while (n < src.byteSize() && n < MAX_RUN_BYTES) {
                long e2 = l2EntryFor(gc + ((inCluster + n) >>> clusterBits), null);
                if (!writableInPlace(e2) || (e2 & OFFSET_MASK) != host + ((inCluster + n) & ~(clusterSize - 1))) break;
                n = Math.min(src.byteSize(), n + clusterSize);
            }
            fileWrite(host + inCluster, src.asSlice(0, n));
            return n;
        }
        // Allocating write: a run of consecutive clusters that all need new storage.
        long end = off + src.byteSize();
        long lastCluster = (end - 1) >>> clusterBits;
        long maxClusters = Math.max(1, Math.min(MAX_RUN_BYTES / clusterSize, refcounts.maxRunClusters()));
        long k = 1;
        while (gc + k <= lastCluster && k < maxClusters && !writableInPlace(l2EntryFor(gc + k, null))) k++;
        long runStart = gc << clusterBits;
        long runBytes = k * clusterSize;
        long n = Math.min(end, runStart + runBytes) - off;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(runBytes, 4096);
            if (inCluster != 0) readOldCluster(gc, buf.asSlice(0, clusterSize));
            long writtenEnd = off + n;
            if ((writtenEnd & (clusterSize - 1)) != 0) {
                long tailCluster = (writtenEnd - 1) >>> clusterBits;
                if (tailCluster != gc || inCluster == 0) readOldCluster(tailCluster, buf.asSlice((tailCluster - gc) * clusterSize, clusterSize));
            }
            MemorySegment.copy(src, 0, buf, inCluster, n);
            // Clip the last cluster past the virtual size? No: whole clusters keep the file cluster aligned.
            long host = refcounts.allocate(k);
            fileWrite(host, buf);
            for (long i = 0; i < k; i++) {
                setL2Entry(gc + i, (host + i * clusterSize) | COPIED, true);
            }
        }
        return n;
    }

    /** Reads the current contents of a guest cluster (for copy-on-write), clipped to the virtual size. */
    private void readOldCluster(long gc, MemorySegment dst) {
        long start = gc << clusterBits;
        long n = Math.min(clusterSize, header.size - start);
        if (n < clusterSize) dst.asSlice(n).fill((byte) 0);
        for (long done = 0; done < n; ) {
            Mapping m = mapOne(start + done, n - done);
            readMapped(m, start + done, dst.asSlice(done, m.length));
            done += m.length;
        }
    }

    /**
     * Replaces the L2 entry of guest cluster {@code gc}; the old host storage (if any) is queued for
     * release after the next flush, and punched now when nothing else uses it.
     */
    private void setL2Entry(long gc, long entry, boolean allocateTable) {
        int l1i = (int) (gc / l2Entries);
        int l2i = (int) (gc % l2Entries);
        TableCache.Table t = l2ForWrite(l1i, allocateTable);
        if (t == null) return;
        long old = t.getLong(l2i);
        t.setLong(l2i, entry);
        t.dirty = true;
        releaseOld(old, entry);
    }

    private void releaseOld(long old, long replacement) {
        // A reference to storage that cannot exist (a corrupt entry, overwritten as a whole) is dropped
        // without touching refcounts: decrementing clusters outside the file would fail every later flush.
        if ((old & COMPRESSED) != 0) {
            long[] r = compressedRange(old & ~(COPIED | COMPRESSED));
            compressedCache.clear();
            if (r[0] == 0 || r[0] + r[1] > fileLength) return;
            long first = r[0] >>> clusterBits, last = (r[0] + r[1] - 1) >>> clusterBits;
            pendingFrees.add(new long[] {first << clusterBits, last - first + 1});
            return;
        }
        long host = old & OFFSET_MASK;
        if (host == 0 || host == (replacement & OFFSET_MASK)) return;
        if ((host & (clusterSize - 1)) != 0 || host > fileLength - clusterSize) return;
        pendingFrees.add(new long[] {host, 1});
        if (refcounts.get(host >>> clusterBits) == 1) file.punchHole(host, clusterSize);
    }

    /** The L2 table for L1 index {@code l1i}, ready to be modified (allocated or unshared as needed). */
    private TableCache.Table l2ForWrite(int l1i, boolean allocate) {
        long e = requireValidL1(l1i);
        long off = e & OFFSET_MASK;
        if (off == 0) {
            if (!allocate) return null;
            long n = refcounts.allocate(1);
            growFileLength(n + clusterSize);
            l1[l1i] = n | COPIED;
            dirtyL1.add(l1i);
            return l2Cache.create(n, null);
        }
        checkMetadataOffset("L2 table", off);
        if ((e & COPIED) == 0) {
            // Shared with a snapshot: copy the table, drop our reference to the old one after the flush.
            byte[] copy = l2Cache.get(off).data.clone();
            long n = refcounts.allocate(1);
            growFileLength(n + clusterSize);
            l1[l1i] = n | COPIED;
            dirtyL1.add(l1i);
            pendingFrees.add(new long[] {off, 1});
            return l2Cache.create(n, copy);
        }
        return l2Cache.get(off);
    }

    @Override
    public void discard(long offset, long length) {
        zeroOrDiscard(offset, length, true, true);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) {
        zeroOrDiscard(offset, length, mayUnmap, false);
    }

    private void zeroOrDiscard(long offset, long length, boolean unmap, boolean isDiscard) {
        checkOpen();
        checkWritable();
        checkRange(offset, length);
        if (length == 0) return;
        lock.lock();
        try {
            markDirtyIfLazy();
            long end = offset + length;
            long firstFull = (offset + clusterSize - 1) & ~(clusterSize - 1);
            long lastFull = (end == header.size ? (end + clusterSize - 1) : end) & ~(clusterSize - 1);
            if (!isDiscard) {
                // Partial clusters at either end get explicit zeroes.
                if (firstFull > offset) writeZeroBytes(offset, Math.min(end, firstFull) - offset);
                if (lastFull < end && lastFull >= firstFull) writeZeroBytes(lastFull, end - lastFull);
            }
            for (long c = firstFull; c < lastFull; c += clusterSize) {
                zeroCluster(c >>> clusterBits, unmap, isDiscard);
            }
        } catch (RuntimeException e) {
            failed();
            throw e;
        } finally {
            lock.unlock();
        }
    }

    private void zeroCluster(long gc, boolean unmap, boolean isDiscard) {
        long old = l2EntryFor(gc, null);
        boolean v3 = header.version >= 3;
        if (!v3 && backing != null) {
            // A v2 image cannot mark a cluster zero over a backing file: unallocated would show the backing data.
            if (!isDiscard) writeZeroBytes(gc << clusterBits, Math.min(clusterSize, header.size - (gc << clusterBits)));
            return;
        }
        long entry;
        if (!v3) {
            entry = 0;
        } else if (isDiscard) {
            // As QEMU: a discarded cluster reads as zeroes through the zero flag; only a cluster that was
            // never allocated (and has no backing file to hide) stays as it is.
            entry = old == 0 && backing == null ? 0 : ZERO_FLAG;
        } else {
            // As QEMU: every zeroed cluster gets the zero flag; its storage is released when the caller
            // allows it (and always for a compressed cluster), otherwise kept for later writes.
            boolean release = (old & COMPRESSED) != 0 || (unmap && (old & OFFSET_MASK) != 0);
            entry = (release ? 0 : old) | ZERO_FLAG;
        }
        if (old == entry) return;
        setL2Entry(gc, entry, entry != 0);
    }

    private void writeZeroBytes(long off, long len) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment z = a.allocate(len);
            for (long done = 0; done < len; ) done += writeRun(off + done, z.asSlice(done));
        }
    }

    // ---- flush ----

    @Override
    public void flush() {
        checkOpen();
        if (readOnly) return;
        lock.lock();
        try {
            flushLocked();
        } catch (RuntimeException e) {
            failed();
            throw e;
        } finally {
            lock.unlock();
        }
    }

    private void flushLocked() {
        boolean lazy = header.lazyRefcounts();
        refcounts.writeBlocks();
        if (refcounts.tableDirty()) {
            if (!lazy) sync();
            refcounts.writeTableEntries();
        }
        if (l2Cache.hasDirty() || !dirtyL1.isEmpty()) {
            if (!lazy) sync();
            l2Cache.writeDirty();
            if (!dirtyL1.isEmpty()) {
                if (!lazy) sync();
                writeL1Entries();
            }
        }
        sync();
        applyPendingFrees();
    }

    /** Before an L2 table is written: the refcounts (and data) it depends on must be durable. */
    private void beforeL2Write() {
        if (header.lazyRefcounts()) return;
        refcounts.writeBlocks();
        if (refcounts.tableDirty()) {
            sync();
            refcounts.writeTableEntries();
        }
        sync();
    }

    private void applyPendingFrees() {
        if (pendingFrees.isEmpty()) return;
        for (long[] f : pendingFrees) {
            for (long i = 0; i < f[1]; i++) {
                long c = (f[0] >>> clusterBits) + i;
                if (refcounts.decrement(c) == 0) {
                    l2Cache.drop(c << clusterBits);
                    file.punchHole(c << clusterBits, clusterSize);
                }
            }
        }
        pendingFrees.clear();
    }

    private void writeL1Entries() {
        for (int i : dirtyL1) {
            byte[] b = new byte[8];
            TableCache.BE_LONG.set(b, 0, l1[i]);
            fileWrite(header.l1TableOffset + i * 8L, MemorySegment.ofArray(b));
        }
        dirtyL1.clear();
    }

    private void fileWrite(long off, MemorySegment src) {
        file.write(off, src);
        unsynced = true;
        growFileLength(off + src.byteSize());
    }

    private void growFileLength(long end) {
        if (end > fileLength) fileLength = end;
    }

    private void sync() {
        file.sync();
        unsynced = false;
    }

    private void writeHeaderLong(int off, long value) {
        byte[] b = new byte[8];
        TableCache.BE_LONG.set(b, 0, value);
        file.write(off, b);
        unsynced = true;
    }

    private void markDirtyIfLazy() {
        if (dirtyBitSet || !header.lazyRefcounts()) return;
        header.incompatible |= Qcow2Header.INCOMPAT_DIRTY;
        writeHeaderLong(Qcow2Header.OFF_INCOMPAT, header.incompatible);
        sync();
        dirtyBitSet = true;
    }

    /** After a failed metadata operation, cached state may be ahead of the file: forget it. */
    private void failed() {
        // Keep dirty tables (they hold acknowledged work); only the compressed cache is dropped.
        compressedCache.clear();
    }

    private void checkOpen() {
        if (closed) throw new BlockException("the image is closed");
    }

    // ---- status and info ----

    @Override
    public Extent status(long offset, long maxLength) {
        checkOpen();
        checkRange(offset, 1);
        long max = Math.min(maxLength, header.size - offset);
        Mapping m;
        lock.lock();
        try {
            m = mapRun(offset, max);
        } finally {
            lock.unlock();
        }
        String name = file.path().toString();
        return switch (m.kind) {
            case KIND_DATA -> {
                // A cluster allocated in the metadata but never written (preallocation=metadata) is a hole
                // in the file: it reads as zeroes, and copies skip it without reading it.
                long hole = file.holeLength(m.host, m.length);
                if (hole > 0) yield new Extent(offset, hole, true, true, 0, m.host, name);
                yield new Extent(offset, file.dataLength(m.host, m.length), true, false, 0, m.host, name);
            }
            case KIND_ZERO -> new Extent(offset, m.length, false, true, 0, m.host, m.host < 0 ? null : name);
            case KIND_COMPRESSED -> new Extent(offset, m.length, true, false, 0, -1, name);
            default -> {
                if (backing == null) yield Extent.unallocated(offset, m.length, 0);
                // Past the end of the backing file the top image itself reads as zeroes: depth 0, as qemu-img map says.
                if (offset >= backing.size()) yield Extent.unallocated(offset, m.length, 0);
                yield backing.status(offset, Math.min(m.length, backing.size() - offset)).deeper();
            }
        };
    }

    @Override
    public ImageInfo info() {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("compat", header.version == 2 ? "0.10" : "1.1");
        if (header.version >= 3) {
            data.put("compression-type", "zlib");
            data.put("lazy-refcounts", header.lazyRefcounts());
        }
        data.put("refcount-bits", 1 << header.refcountOrder);
        data.put("corrupt", header.corrupt());
        if (header.version >= 3) data.put("extended-l2", header.extendedL2());
        List<ImageInfo.Snapshot> snaps = new ArrayList<>();
        for (Qcow2Snapshots.Entry s : snapshots) snaps.add(s.info());
        return new ImageInfo("qcow2", header.size, clusterSize, header.backingFile, header.backingFormat,
                header.dirty(), data, snaps);
    }

    /** Checks the image's metadata (refcounts against references), like {@code qemu-img check}. */
    public Qcow2Checker.Result check() {
        lock.lock();
        try {
            if (!readOnly) flushLocked();
            return new Qcow2Checker(this).run();
        } finally {
            lock.unlock();
        }
    }

    /** Test hook: drops the image like a killed process would (no flush, cached metadata lost). */
    void abandon() {
        closed = true;
        file.close();
        if (backing != null) backing.close();
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            if (!readOnly) {
                flushLocked();
                // Decrements applied by the flush are still cached: write them too.
                refcounts.writeBlocks();
                if (refcounts.tableDirty()) {
                    sync();
                    refcounts.writeTableEntries();
                }
                if (dirtyBitSet) {
                    sync();
                    header.incompatible &= ~Qcow2Header.INCOMPAT_DIRTY;
                    writeHeaderLong(Qcow2Header.OFF_INCOMPAT, header.incompatible);
                }
                sync();
            }
        } finally {
            lock.unlock();
            try {
                file.close();
            } finally {
                if (backing != null) backing.close();
            }
        }
    }
}
