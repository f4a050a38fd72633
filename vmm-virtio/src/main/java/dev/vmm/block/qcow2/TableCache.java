package dev.vmm.block.qcow2;

import dev.vmm.block.ImageFile;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A bounded write-back LRU cache of one-cluster metadata tables (L2 tables or refcount blocks),
 * keyed by host offset. Not thread-safe: the owner serialises access.
 *
 * <p>Crash safety lives in the owner: before a dirty table is written (on eviction or on
 * {@link #writeDirty}), {@link #beforeWrite} runs, which for L2 tables makes the refcounts and data
 * they depend on durable first.
 */
final class TableCache {
    static final VarHandle BE_LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    static final class Table {
        final long offset;
        final byte[] data;
        boolean dirty;

        Table(long offset, byte[] data) {
            this.offset = offset;
            this.data = data;
        }

        long getLong(int index) { return (long) BE_LONG.get(data, index * 8); }

        void setLong(int index, long value) { BE_LONG.set(data, index * 8, value); }
    }

    private final ImageFile file;
    private final int tableBytes;
    private final int capacity;
    private final Runnable beforeWrite;
    private final LinkedHashMap<Long, Table> tables = new LinkedHashMap<>(16, 0.75f, true);

    TableCache(ImageFile file, int tableBytes, int capacity, Runnable beforeWrite) {
        this.file = file;
        this.tableBytes = tableBytes;
        this.capacity = Math.max(2, capacity);
        this.beforeWrite = beforeWrite;
    }

    /** The table at {@code offset}, read from the file on a miss. */
    Table get(long offset) {
        Table t = tables.get(offset);
        if (t != null) return t;
        makeRoom();
        t = new Table(offset, file.readBytes(offset, tableBytes));
        tables.put(offset, t);
        return t;
    }

    /** A table for a freshly allocated cluster: starts as {@code contents} (or zeroes), dirty, not read. */
    Table create(long offset, byte[] contents) {
        Table old = tables.remove(offset);
        if (old != null && old.dirty) throw new IllegalStateException("allocated over a dirty cached table at 0x" + Long.toHexString(offset));
        makeRoom();
        Table t = new Table(offset, contents != null ? contents : new byte[tableBytes]);
        t.dirty = true;
        tables.put(offset, t);
        return t;
    }

    /** Forgets a table whose cluster was freed (its contents no longer matter). */
    void drop(long offset) {
        tables.remove(offset);
    }

    boolean hasDirty() {
        for (Table t : tables.values()) if (t.dirty) return true;
        return false;
    }

    /** Writes every dirty table (in file order), without syncing. */
    void writeDirty() {
        List<Table> dirty = new ArrayList<>();
        for (Table t : tables.values()) if (t.dirty) dirty.add(t);
        if (dirty.isEmpty()) return;
        beforeWrite.run();
        dirty.sort(Comparator.comparingLong(t -> t.offset));
        for (Table t : dirty) write(t);
    }

    /** Empties the cache (after a failed operation, so that the next access rereads the file). */
    void clear() {
        tables.clear();
    }

    private void write(Table t) {
        file.write(t.offset, t.data);
        t.dirty = false;
    }

    private void makeRoom() {
        while (tables.size() >= capacity) {
            Iterator<Map.Entry<Long, Table>> it = tables.entrySet().iterator();
            Table victim = it.next().getValue();
            if (victim.dirty) {
                beforeWrite.run();
                write(victim);
            }
            tables.remove(victim.offset);
        }
    }
}
