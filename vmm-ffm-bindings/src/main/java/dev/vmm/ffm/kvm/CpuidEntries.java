package dev.vmm.ffm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * A mutable list of CPUID leaves ({@code struct kvm_cpuid_entry2}), as returned by
 * KVM_GET_SUPPORTED_CPUID and adjusted per vCPU before KVM_SET_CPUID2.
 */
public final class CpuidEntries {
    /** One leaf/subleaf. */
    public static final class Entry {
        public int function, index, flags, eax, ebx, ecx, edx;

        public Entry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
            this.function = function; this.index = index; this.flags = flags;
            this.eax = eax; this.ebx = ebx; this.ecx = ecx; this.edx = edx;
        }

        public Entry copy() { return new Entry(function, index, flags, eax, ebx, ecx, edx); }

        @Override
        public String toString() {
            return String.format("cpuid(0x%x,%d) eax=%08x ebx=%08x ecx=%08x edx=%08x", function, index, eax, ebx, ecx, edx);
        }
    }

    private static final long ENTRY_SIZE = KvmLayouts.KVM_CPUID_ENTRY2.byteSize();
    private static final long HEADER = KvmLayouts.KVM_CPUID2.byteSize();

    private final List<Entry> entries;

    public CpuidEntries(List<Entry> entries) {
        this.entries = entries;
    }

    public List<Entry> entries() { return entries; }

    /** The entry for (function, index), or null. Index is ignored for leaves without subleaves. */
    public Entry find(int function, int index) {
        for (Entry e : entries) {
            if (e.function == function && ((e.flags & KvmIoctls.KVM_CPUID_FLAG_SIGNIFCANT_INDEX) == 0 || e.index == index)) {
                return e;
            }
        }
        return null;
    }

    public CpuidEntries copy() {
        List<Entry> c = new ArrayList<>(entries.size());
        for (Entry e : entries) c.add(e.copy());
        return new CpuidEntries(c);
    }

    static MemorySegment allocate(Arena arena, int capacity) {
        MemorySegment buf = arena.allocate(HEADER + ENTRY_SIZE * capacity, 8);
        buf.set(JAVA_INT, 0, capacity);
        return buf;
    }

    static CpuidEntries fromKvm(MemorySegment buf) {
        int n = buf.get(JAVA_INT, 0);
        List<Entry> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long o = HEADER + ENTRY_SIZE * i;
            list.add(new Entry(buf.get(JAVA_INT, o), buf.get(JAVA_INT, o + 4), buf.get(JAVA_INT, o + 8),
                    buf.get(JAVA_INT, o + 12), buf.get(JAVA_INT, o + 16), buf.get(JAVA_INT, o + 20), buf.get(JAVA_INT, o + 24)));
        }
        return new CpuidEntries(list);
    }

    MemorySegment toKvm(Arena arena) {
        MemorySegment buf = allocate(arena, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            long o = HEADER + ENTRY_SIZE * i;
            buf.set(JAVA_INT, o, e.function);
            buf.set(JAVA_INT, o + 4, e.index);
            buf.set(JAVA_INT, o + 8, e.flags);
            buf.set(JAVA_INT, o + 12, e.eax);
            buf.set(JAVA_INT, o + 16, e.ebx);
            buf.set(JAVA_INT, o + 20, e.ecx);
            buf.set(JAVA_INT, o + 24, e.edx);
        }
        return buf;
    }
}
