package dev.vmm.chipset.bios;

import dev.vmm.chipset.q35.PamRegisters;

import java.util.ArrayList;
import java.util.List;

/**
 * What the CPU sees in the legacy BIOS area 0xC0000-0xFFFFF for one state of the seven PAM
 * registers, and the KVM memory slots that realise it. Pure: no KVM, no memory, only addresses.
 *
 * <p>The firmware image (the "ROM", mapped read-only at 4 GiB − size) has its last 128 KiB (all of
 * it when smaller) aliased at the top of the first megabyte: 0xE0000-0xFFFFF for a 128 KiB or
 * larger image. Per PAM segment:
 *
 * <pre>
 *   PAM field       reads come from                       writes go to
 *   00 disabled     the ROM alias, or nothing (all ones)  nowhere (dropped)
 *   01 read-only    RAM                                   nowhere (dropped: write-protected shadow)
 *   10 write-only   the ROM alias, or nothing             RAM (the copy step of shadowing)
 *   11 read/write   RAM                                   RAM
 * </pre>
 *
 * KVM slots can only say "this memory, maybe read-only"; a write-only segment is therefore a
 * read-only slot over the ROM whose write exits reach {@link ShadowAccess}, which puts the bytes
 * into RAM. Every access a slot does not cover (no slot, or a write to a read-only slot) exits to
 * the VMM, and {@link ShadowAccess} gives it exactly the meaning of this table, so the guest's view
 * is the same with or without the slots (also while slots are being replaced).
 */
public final class ShadowLayout {
    /** Start and end of the PAM-controlled area. */
    public static final long START = 0xC0000L, END = 0x100000L;
    /** How much of the ROM's top is aliased below 1 MiB. */
    public static final long ALIAS_SIZE = 0x20000L;

    private ShadowLayout() {}

    /** Where reads of a region come from. */
    public enum Reads { RAM, ROM, NOTHING }

    /**
     * One PAM segment's behaviour.
     *
     * @param romOffset the offset in the ROM image of {@code base} when {@code reads == ROM}, else -1
     */
    public record Region(long base, long size, Reads reads, boolean writesRam, long romOffset) {
        public long end() { return base + size; }

        public boolean contains(long addr) { return addr >= base && addr < end(); }
    }

    /** What backs a memory slot. */
    public enum Backing { RAM, ROM }

    /**
     * One KVM memory slot: {@code size} bytes at guest address {@code base}, backed by RAM at the same
     * guest address or by the ROM image at {@code offset}; {@code readOnly} = KVM_MEM_READONLY.
     */
    public record Slot(long base, long size, Backing backing, long offset, boolean readOnly) {}

    /** The 13 regions for PAM register bytes {@code pam} (PAM0..PAM6) and a ROM of {@code romSize} bytes. */
    public static List<Region> regions(byte[] pam, long romSize) {
        if (pam.length != PamRegisters.COUNT) throw new IllegalArgumentException("PAM registers: " + PamRegisters.COUNT + " bytes");
        long alias = Math.min(romSize, ALIAS_SIZE) & ~0xFFFL;
        long aliasStart = END - alias;
        List<Region> out = new ArrayList<>();
        for (PamRegisters.Segment s : PamRegisters.SEGMENTS) {
            int field = ((pam[s.register()] & 0xff) >>> s.shift()) & 3;
            boolean readsRam = (field & 1) != 0, writesRam = (field & 2) != 0;
            Reads reads;
            long romOffset = -1;
            if (readsRam) {
                reads = Reads.RAM;
            } else if (alias > 0 && s.base() >= aliasStart) {
                reads = Reads.ROM;
                romOffset = romSize - (END - s.base());
            } else {
                reads = Reads.NOTHING;   // a segment straddling the alias start is not possible: alias is 4 KiB aligned, segments 16 KiB
            }
            out.add(new Region(s.base(), s.size(), reads, writesRam, romOffset));
        }
        return out;
    }

    /** The region holding {@code addr}, or null outside 0xC0000-0xFFFFF. */
    public static Region regionAt(List<Region> regions, long addr) {
        for (Region r : regions) if (r.contains(addr)) return r;
        return null;
    }

    /** The memory slots for {@code regions}, adjacent compatible ones merged, in address order. */
    public static List<Slot> slots(List<Region> regions) {
        List<Slot> out = new ArrayList<>();
        for (Region r : regions) {
            Slot s = switch (r.reads()) {
                case RAM -> new Slot(r.base(), r.size(), Backing.RAM, r.base(), !r.writesRam());
                case ROM -> new Slot(r.base(), r.size(), Backing.ROM, r.romOffset(), true);
                case NOTHING -> null;
            };
            if (s == null) continue;
            Slot last = out.isEmpty() ? null : out.getLast();
            if (last != null && last.base() + last.size() == s.base() && last.backing() == s.backing()
                    && last.readOnly() == s.readOnly() && last.offset() + last.size() == s.offset()) {
                out.set(out.size() - 1, new Slot(last.base(), last.size() + s.size(), last.backing(), last.offset(), last.readOnly()));
            } else {
                out.add(s);
            }
        }
        return List.copyOf(out);
    }

    /** The PAM register bytes of {@code pam} now. */
    public static byte[] snapshot(PamRegisters pam) {
        byte[] b = new byte[PamRegisters.COUNT];
        for (int i = 0; i < b.length; i++) b[i] = (byte) pam.read(i);
        return b;
    }
}
