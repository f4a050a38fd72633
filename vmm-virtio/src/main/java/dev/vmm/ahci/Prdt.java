package dev.vmm.ahci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.scsi.DataBuffer;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A command's physical region descriptor table (AHCI 1.3.1 §4.2.3.3) resolved into guest RAM: the
 * data buffer as slices of guest memory (a {@link DataBuffer}, the same scatter-gather type the
 * SCSI target uses) and where each entry with the interrupt-on-completion bit starts.
 */
final class Prdt {
    static final int ENTRY_SIZE = 16;
    /** DBC is 22 bits: up to 4 MiB per entry. */
    static final int MAX_ENTRY_BYTES = 1 << 22;

    final DataBuffer buffer;
    private final long[] interruptEntryStarts;

    private Prdt(DataBuffer buffer, long[] interruptEntryStarts) {
        this.buffer = buffer;
        this.interruptEntryStarts = interruptEntryStarts;
    }

    static final Prdt EMPTY = new Prdt(DataBuffer.EMPTY, new long[0]);

    long size() {
        return buffer.size();
    }

    /** Whether moving the first {@code bytes} bytes reached an entry with the I bit (PxIS.DPS). */
    boolean interruptAfter(long bytes) {
        for (long start : interruptEntryStarts) {
            if (start < bytes) return true;
        }
        return false;
    }

    /**
     * Reads {@code entries} PRDs at {@code table} and resolves them. An entry (or the table) outside
     * RAM is a {@link CommandFault}; an entry crossing a gap between RAM regions is split.
     */
    static Prdt load(GuestMemory mem, long table, int entries) {
        if (entries == 0) return EMPTY;
        if (!mem.isValid(table, (long) entries * ENTRY_SIZE)) {
            throw new CommandFault("PRD table at 0x" + Long.toHexString(table) + " (" + entries + " entries) is outside RAM", true);
        }
        List<MemorySegment> pieces = new ArrayList<>();
        List<Long> interrupts = new ArrayList<>();
        long total = 0;
        for (int i = 0; i < entries; i++) {
            long e = table + (long) i * ENTRY_SIZE;
            long dba = (mem.readU32(e) & 0xFFFF_FFFEL) | (mem.readU32(e + 4) & 0xFFFF_FFFFL) << 32; // bit 0 reserved: word aligned
            int dw3 = mem.readU32(e + 12);
            long dbc = (dw3 & (MAX_ENTRY_BYTES - 1)) + 1L;
            if ((dw3 & 0x8000_0000) != 0) interrupts.add(total);
            resolve(mem, dba, dbc, i, pieces);
            total += dbc;
        }
        return new Prdt(new DataBuffer(pieces.toArray(MemorySegment[]::new)),
                interrupts.stream().mapToLong(Long::longValue).toArray());
    }

    private static void resolve(GuestMemory mem, long gpa, long len, int index, List<MemorySegment> out) {
        while (len > 0) {
            GuestRegion r = mem.regionFor(gpa, 1);
            if (r == null) {
                throw new CommandFault("PRD " + index + " [0x" + Long.toHexString(gpa) + ", +" + len + ") is outside RAM");
            }
            long n = Math.min(len, r.end() - gpa);
            out.add(r.host().asSlice(gpa - r.base(), n));
            gpa += n;
            len -= n;
        }
    }
}
