package dev.vmm.boot;

import java.util.ArrayList;
import java.util.List;

/** The guest's physical memory map as the firmware would report it (e820 types). */
public record E820(List<Entry> entries) {
    public static final int RAM = 1, RESERVED = 2, ACPI = 3, NVS = 4;

    public record Entry(long addr, long size, int type) {}

    /**
     * The map for a machine whose RAM regions are {@code ram} (base, size pairs): low RAM up to the
     * EBDA, the EBDA and BIOS area reserved, the rest of RAM as given.
     */
    public static E820 forRam(List<long[]> ram) {
        List<Entry> e = new ArrayList<>();
        for (long[] r : ram) {
            long base = r[0], end = r[0] + r[1];
            if (base < X86Layout.HIGH_MEMORY_START) {
                e.add(new Entry(base, Math.min(end, X86Layout.EBDA_START) - base, RAM));
                e.add(new Entry(X86Layout.EBDA_START, X86Layout.HIGH_MEMORY_START - X86Layout.EBDA_START, RESERVED));
                if (end > X86Layout.HIGH_MEMORY_START) {
                    e.add(new Entry(X86Layout.HIGH_MEMORY_START, end - X86Layout.HIGH_MEMORY_START, RAM));
                }
            } else {
                e.add(new Entry(base, end - base, RAM));
            }
        }
        return new E820(List.copyOf(e));
    }

    /** RAM in KiB from 1 MiB up to the first hole (multiboot's mem_upper). */
    public long upperMemoryKib() {
        long end = X86Layout.HIGH_MEMORY_START;
        for (Entry x : entries) {
            if (x.type == RAM && x.addr == end) end = x.addr + x.size;
        }
        return (end - X86Layout.HIGH_MEMORY_START) / 1024;
    }
}
