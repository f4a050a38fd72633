package dev.vmm.chipset.firmware;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * The guest's physical memory map as the BIOS E820 call reports it: sorted, non-overlapping
 * (address, size, type) ranges. Boot protocols (Linux boot_params, PVH hvm_start_info, multiboot)
 * encode it in their own formats; this is just the validated list.
 */
public final class E820Map {
    /** Range types with their E820 codes. */
    public enum Type {
        RAM(1), RESERVED(2), ACPI(3), NVS(4);

        private final int code;

        Type(int code) { this.code = code; }

        /** The numeric E820 type. */
        public int code() { return code; }

        public static Type ofCode(int code) {
            for (Type t : values()) if (t.code == code) return t;
            throw new IllegalArgumentException("unknown E820 type " + code);
        }
    }

    /** One range; {@code addr} and {@code size} are unsigned and {@code addr + size} must not pass 2^64. */
    public record Entry(long addr, long size, Type type) {
        public Entry {
            Objects.requireNonNull(type, "type");
            if (size == 0)
                throw new IllegalArgumentException("empty E820 range at 0x" + Long.toHexString(addr));
            if (Long.compareUnsigned(addr + size, addr) < 0 && addr + size != 0)
                throw new IllegalArgumentException(String.format("E820 range 0x%x+0x%x wraps", addr, size));
        }

        /** The first address past the range (0 if it ends exactly at 2^64). */
        public long end() { return addr + size; }
    }

    private final List<Entry> entries;

    /** Takes the entries in ascending address order; throws if they are unsorted or overlap. */
    public E820Map(List<Entry> entries) {
        List<Entry> copy = List.copyOf(entries);
        for (int i = 1; i < copy.size(); i++) {
            Entry prev = copy.get(i - 1), cur = copy.get(i);
            if (prev.end() == 0 || Long.compareUnsigned(cur.addr, prev.end()) < 0)
                throw new IllegalArgumentException(String.format(
                        "E820 entries unsorted or overlapping: 0x%x+0x%x then 0x%x+0x%x",
                        prev.addr, prev.size, cur.addr, cur.size));
        }
        this.entries = copy;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Collects ranges in any order; {@link #build} sorts them and rejects overlaps. */
    public static final class Builder {
        private final List<Entry> entries = new ArrayList<>();

        public Builder add(long addr, long size, Type type) {
            entries.add(new Entry(addr, size, type));
            return this;
        }

        public E820Map build() {
            List<Entry> sorted = new ArrayList<>(entries);
            sorted.sort(Comparator.comparing(Entry::addr, Long::compareUnsigned));
            return new E820Map(sorted);
        }
    }

    public List<Entry> entries() {
        return entries;
    }

    public int size() {
        return entries.size();
    }

    /** Total bytes of {@link Type#RAM}. */
    public long totalRam() {
        long sum = 0;
        for (Entry e : entries) if (e.type == Type.RAM) sum += e.size;
        return sum;
    }

    /** The entry containing {@code addr}, or null. */
    public Entry find(long addr) {
        for (Entry e : entries) {
            if (Long.compareUnsigned(addr - e.addr, e.size) < 0) return e;
        }
        return null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof E820Map m && m.entries.equals(entries);
    }

    @Override
    public int hashCode() {
        return entries.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("E820Map[");
        for (Entry e : entries)
            sb.append(String.format("%n  [0x%016x-0x%016x] %s", e.addr, e.addr + e.size - 1, e.type));
        return sb.append(entries.isEmpty() ? "]" : "\n]").toString();
    }
}
