package dev.vmm.migration.xbzrle;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The source side's copy of recently sent guest pages, keyed by guest page frame number, with
 * least-recently-used eviction: XBZRLE encodes a dirty page against its copy here.
 *
 * <p>Layout, chosen so that the per-page path allocates nothing and the GC sees a handful of
 * arrays however large the cache is:
 * <ul>
 *   <li>page copies live in one off-heap segment, slot {@code s} at {@code s * pageSize};</li>
 *   <li>{@code slotPfn[s]} is the page frame cached in slot {@code s};</li>
 *   <li>an open-addressing (linear probing) table maps a frame number to its slot, kept at most
 *       half full, with backward-shift deletion so there are no tombstones to clean up;</li>
 *   <li>{@code prev}/{@code next} thread the used slots into a doubly linked LRU list (head = most
 *       recently used), and unused slots into a free list through {@code next}.</li>
 * </ul>
 *
 * <p>The size is set in bytes like QEMU's {@code xbzrle-cache-size} and can be changed at any time
 * ({@link #resize}); the most recently used pages that fit are kept. Slot numbers and the
 * {@link #data()} segment are only valid until the next {@link #resize} or {@link #close}.
 *
 * <p>Not thread-safe: one migration thread owns it.
 */
public final class PageCache implements AutoCloseable {
    private static final int NONE = -1;

    private final int pageSize;
    private long capacityBytes;
    private int capacityPages;

    private Arena arena;
    private MemorySegment data;
    private long[] slotPfn;
    private int[] prev;
    private int[] next;
    private int[] table; // slot + 1, 0 = empty
    private int tableMask;
    private int head = NONE; // most recently used
    private int tail = NONE; // least recently used
    private int freeHead;    // free slots linked through next[]
    private int size;

    private long hits;
    private long misses;
    private long evictions;

    /** A cache of {@code capacityBytes} (rounded down to whole pages, at least one page). */
    public PageCache(long capacityBytes, int pageSize) {
        if (pageSize <= 0) throw new IllegalArgumentException("page size must be positive: " + pageSize);
        this.pageSize = pageSize;
        allocate(checkCapacity(capacityBytes));
        this.capacityBytes = capacityBytes;
    }

    /** A cache of {@code capacityBytes} for 4 KiB pages. */
    public PageCache(long capacityBytes) {
        this(capacityBytes, Xbzrle.DEFAULT_PAGE_SIZE);
    }

    public int pageSize() { return pageSize; }

    /** The size asked for, in bytes (the {@code xbzrle-cache-size} parameter). */
    public long capacityBytes() { return capacityBytes; }

    /** How many pages fit. */
    public int capacityPages() { return capacityPages; }

    /** How many pages are cached now. */
    public int size() { return size; }

    public long hits() { return hits; }

    public long misses() { return misses; }

    public long evictions() { return evictions; }

    /** The arena holding every cached page; slot {@code s} starts at {@link #slotOffset(int) slotOffset(s)}. */
    public MemorySegment data() { return data; }

    public long slotOffset(int slot) {
        if (slot < 0 || slot >= capacityPages) throw new IndexOutOfBoundsException("slot " + slot);
        return (long) slot * pageSize;
    }

    /** A view of one slot's page (allocates a slice: for tests and cold paths). */
    public MemorySegment page(int slot) {
        return data.asSlice(slotOffset(slot), pageSize);
    }

    /**
     * The slot holding page frame {@code pfn}, which becomes the most recently used; or -1. Counts a
     * hit or a miss.
     */
    public int lookup(long pfn) {
        int slot = find(pfn);
        if (slot == NONE) {
            misses++;
            return NONE;
        }
        hits++;
        moveToFront(slot);
        return slot;
    }

    /** Whether {@code pfn} is cached, without touching LRU order or counters. */
    public boolean contains(long pfn) {
        return find(pfn) != NONE;
    }

    /**
     * Stores a copy of the page at {@code page[offset, offset+pageSize)} for {@code pfn}, replacing
     * its old copy or else taking a free slot or the least recently used one.
     *
     * @return the slot now holding {@code pfn}, the most recently used
     */
    public int put(long pfn, MemorySegment page, long offset) {
        ensureOpen();
        int slot = find(pfn);
        if (slot == NONE) {
            slot = allocateSlot();
            slotPfn[slot] = pfn;
            tableInsert(pfn, slot);
            linkFront(slot);
        } else {
            moveToFront(slot);
        }
        MemorySegment.copy(page, offset, data, (long) slot * pageSize, pageSize);
        return slot;
    }

    /** Drops {@code pfn} (e.g. it was sent some other way); returns whether it was cached. */
    public boolean invalidate(long pfn) {
        int slot = find(pfn);
        if (slot == NONE) return false;
        removeSlot(slot);
        return true;
    }

    /** Drops every page; counters are kept. */
    public void clear() {
        Arrays.fill(table, 0);
        initFreeList();
        head = tail = NONE;
        size = 0;
    }

    /**
     * Changes the size to {@code newCapacityBytes}, keeping the most recently used pages that fit.
     * Invalidates slot numbers and {@link #data()}.
     */
    public void resize(long newCapacityBytes) {
        ensureOpen();
        int newPages = checkCapacity(newCapacityBytes);
        Arena oldArena = arena;
        MemorySegment oldData = data;
        long[] oldPfn = slotPfn;
        int[] oldNext = next;
        int oldHead = head;
        allocate(newPages);
        capacityBytes = newCapacityBytes;
        // Re-insert from least to most recently used so the LRU order survives; walking forward and
        // skipping the overflow keeps the hottest newPages pages.
        int keep = 0;
        int[] order = new int[newPages];
        for (int s = oldHead; s != NONE && keep < newPages; s = oldNext[s]) order[keep++] = s;
        for (int k = keep - 1; k >= 0; k--) {
            int s = order[k];
            put(oldPfn[s], oldData, (long) s * pageSize);
        }
        oldArena.close();
    }

    /** Frees the off-heap pages. */
    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            data = MemorySegment.NULL;
            clear();
        }
    }

    // --- internals ------------------------------------------------------------------------------

    private void ensureOpen() {
        if (arena == null) throw new IllegalStateException("page cache is closed");
    }

    private int checkCapacity(long bytes) {
        long pages = bytes / pageSize;
        if (pages < 1) {
            throw new IllegalArgumentException("cache size " + bytes + " is smaller than one " + pageSize + "-byte page");
        }
        // The hash table has a power-of-two size of at least twice the pages.
        if (pages > (1 << 28)) throw new IllegalArgumentException("cache size " + bytes + " holds too many pages");
        return (int) pages;
    }

    private void allocate(int pages) {
        Arena newArena = Arena.ofShared();
        try {
            data = newArena.allocate((long) pages * pageSize, Math.min(pageSize & -pageSize, 4096));
        } catch (RuntimeException | OutOfMemoryError e) {
            newArena.close();
            throw e;
        }
        arena = newArena;
        capacityPages = pages;
        slotPfn = new long[pages];
        prev = new int[pages];
        next = new int[pages];
        int tableSize = Integer.highestOneBit(pages) << 2; // >= 2 * pages: load factor <= 1/2
        table = new int[tableSize];
        tableMask = tableSize - 1;
        initFreeList();
        head = tail = NONE;
        size = 0;
    }

    private void initFreeList() {
        for (int s = 0; s < capacityPages; s++) next[s] = s + 1 < capacityPages ? s + 1 : NONE;
        freeHead = 0;
    }

    private int allocateSlot() {
        if (freeHead != NONE) {
            int slot = freeHead;
            freeHead = next[slot];
            size++;
            return slot;
        }
        int victim = tail;
        evictions++;
        tableRemove(slotPfn[victim]);
        unlink(victim);
        return victim;
    }

    private void removeSlot(int slot) {
        tableRemove(slotPfn[slot]);
        unlink(slot);
        next[slot] = freeHead;
        freeHead = slot;
        size--;
    }

    private static int hash(long pfn) {
        long h = pfn * 0x9E3779B97F4A7C15L; // Fibonacci hashing: neighbouring frames spread out
        return (int) (h ^ (h >>> 32));
    }

    private int find(long pfn) {
        for (int i = hash(pfn) & tableMask; ; i = (i + 1) & tableMask) {
            int entry = table[i];
            if (entry == 0) return NONE;
            if (slotPfn[entry - 1] == pfn) return entry - 1;
        }
    }

    private void tableInsert(long pfn, int slot) {
        int i = hash(pfn) & tableMask;
        while (table[i] != 0) i = (i + 1) & tableMask;
        table[i] = slot + 1;
    }

    private void tableRemove(long pfn) {
        int i = hash(pfn) & tableMask;
        while (slotPfn[table[i] - 1] != pfn) i = (i + 1) & tableMask;
        // Backward-shift deletion: pull later entries of the probe chain into the hole when their
        // home position does not lie cyclically in (hole, j].
        int hole = i;
        for (int j = (hole + 1) & tableMask; table[j] != 0; j = (j + 1) & tableMask) {
            int home = hash(slotPfn[table[j] - 1]) & tableMask;
            boolean stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!stays) {
                table[hole] = table[j];
                hole = j;
            }
        }
        table[hole] = 0;
    }

    private void linkFront(int slot) {
        prev[slot] = NONE;
        next[slot] = head;
        if (head != NONE) prev[head] = slot;
        head = slot;
        if (tail == NONE) tail = slot;
    }

    private void unlink(int slot) {
        int p = prev[slot];
        int n = next[slot];
        if (p != NONE) next[p] = n; else head = n;
        if (n != NONE) prev[n] = p; else tail = p;
    }

    private void moveToFront(int slot) {
        if (slot == head) return;
        unlink(slot);
        linkFront(slot);
    }
}
