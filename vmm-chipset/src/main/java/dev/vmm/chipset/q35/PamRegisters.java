package dev.vmm.chipset.q35;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The seven Programmable Attribute Map registers of Intel host bridges (i440FX PMC at config
 * 0x59-0x5F, Q35 MCH at 0x90-0x96): for each segment of the legacy BIOS area 0xC0000-0xFFFFF,
 * whether CPU reads and writes reach DRAM or are forwarded to the ROM/PCI side. This is what
 * SeaBIOS uses to copy itself into RAM ("shadowing") and write-protect the copy afterwards.
 *
 * <pre>
 *   PAM0 bits 5:4   0xF0000-0xFFFFF (64 KiB)      bits 3:0 reserved
 *   PAMn bits 1:0   0xC0000 + (n-1)*32K           (16 KiB), n = 1..6
 *   PAMn bits 5:4   0xC4000 + (n-1)*32K           (16 KiB)
 *   field 00 = DRAM disabled (reads and writes go to ROM/PCI), 01 = read-only (reads DRAM, writes
 *   go to ROM/PCI), 10 = write-only (reads ROM/PCI, writes DRAM), 11 = read/write DRAM
 * </pre>
 *
 * A pure state machine: {@link #write} takes config writes at the register offsets, the
 * {@link Listener} hears which segment changed to what; mapping memory slots accordingly (a
 * read-only RAM slot, ROM slot or MMIO region) is the machine's job. Reserved bits read back 0.
 */
public final class PamRegisters {
    public static final int COUNT = 7;

    /** Where accesses to a segment go. */
    public enum Access {
        /** 00: reads and writes go to the ROM/PCI side (writes to ROM are dropped). */
        DISABLED(false, false),
        /** 01: reads from RAM, writes to the ROM/PCI side (a write-protected shadow). */
        READ_ONLY(true, false),
        /** 10: reads from the ROM/PCI side, writes into RAM (copying the ROM into its shadow). */
        WRITE_ONLY(false, true),
        /** 11: plain RAM. */
        READ_WRITE(true, true);

        private final boolean readsRam, writesRam;

        Access(boolean readsRam, boolean writesRam) {
            this.readsRam = readsRam;
            this.writesRam = writesRam;
        }

        public boolean readsRam() { return readsRam; }

        public boolean writesRam() { return writesRam; }

        static Access of(int bits) { return values()[bits & 3]; }
    }

    /** One attribute-controlled range: {@code register} 0..6, {@code shift} 0 or 4 within it. */
    public record Segment(int index, long base, long size, int register, int shift) { }

    @FunctionalInterface
    public interface Listener {
        void accessChanged(Segment segment, Access oldAccess, Access newAccess);
    }

    /** The 13 segments in address order: 12 x 16 KiB from 0xC0000, then 64 KiB at 0xF0000. */
    public static final List<Segment> SEGMENTS;

    static {
        List<Segment> s = new ArrayList<>();
        for (int i = 0; i < 12; i++) s.add(new Segment(i, 0xC0000L + i * 0x4000L, 0x4000, 1 + i / 2, (i & 1) * 4));
        s.add(new Segment(12, 0xF0000L, 0x10000, 0, 4));
        SEGMENTS = List.copyOf(s);
    }

    private final byte[] regs = new byte[COUNT];
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();

    public void addListener(Listener l) {
        listeners.add(Objects.requireNonNull(l));
    }

    /** Register {@code index} (0 = PAM0) as the guest reads it. */
    public synchronized int read(int index) {
        return index >= 0 && index < COUNT ? regs[index] & 0xff : 0;
    }

    /** A guest write of register {@code index}; listeners hear each segment whose access changed. */
    public void write(int index, int value) {
        if (index < 0 || index >= COUNT) return;
        List<Object[]> changes = new ArrayList<>();
        synchronized (this) {
            int mask = index == 0 ? 0x30 : 0x33;
            int old = regs[index] & 0xff;
            int next = value & mask;
            regs[index] = (byte) next;
            for (Segment s : SEGMENTS) {
                if (s.register() != index) continue;
                Access a = Access.of(old >>> s.shift()), b = Access.of(next >>> s.shift());
                if (a != b) changes.add(new Object[] {s, a, b});
            }
        }
        for (Object[] c : changes)
            for (Listener l : listeners) l.accessChanged((Segment) c[0], (Access) c[1], (Access) c[2]);
    }

    public synchronized Access access(Segment s) {
        return Access.of((regs[s.register()] & 0xff) >>> s.shift());
    }

    /** The segment holding {@code address}, or null outside 0xC0000-0xFFFFF. */
    public static Segment segmentAt(long address) {
        for (Segment s : SEGMENTS) if (address >= s.base() && address < s.base() + s.size()) return s;
        return null;
    }

    /** Whether a read of {@code address} goes to RAM (true) or to ROM/PCI (false); RAM outside the PAM area. */
    public boolean readsRam(long address) {
        Segment s = segmentAt(address);
        return s == null || access(s).readsRam();
    }

    /** Whether a write to {@code address} lands in RAM. */
    public boolean writesRam(long address) {
        Segment s = segmentAt(address);
        return s == null || access(s).writesRam();
    }

    /** Power-on state: all zero (everything goes to ROM); listeners hear the changes. */
    public void reset() {
        for (int i = 0; i < COUNT; i++) write(i, 0);
    }
}
