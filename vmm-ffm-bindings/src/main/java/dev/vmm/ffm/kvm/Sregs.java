package dev.vmm.ffm.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/** {@code struct kvm_sregs}: segment and descriptor-table registers, control registers, EFER. */
public final class Sregs {
    /** {@code struct kvm_segment}. */
    public static final class Segment {
        private static final long SEG_BASE = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "base");
        private static final long SEG_LIMIT = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "limit");
        private static final long SEG_SELECTOR = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "selector");
        private static final long SEG_TYPE = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "type");
        private static final long SEG_PRESENT = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "present");
        private static final long SEG_DPL = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "dpl");
        private static final long SEG_DB = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "db");
        private static final long SEG_S = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "s");
        private static final long SEG_L = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "l");
        private static final long SEG_G = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "g");
        private static final long SEG_AVL = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "avl");
        private static final long SEG_UNUSABLE = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "unusable");
        private static final long SEG_PADDING = KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "padding");
        public long base;
        public int limit;
        public short selector;
        public byte type, present, dpl, db, s, l, g, avl, unusable;

        static Segment read(MemorySegment m, long o) {
            Segment x = new Segment();
            x.base = m.get(JAVA_LONG, o + SEG_BASE);
            x.limit = m.get(JAVA_INT, o + SEG_LIMIT);
            x.selector = m.get(JAVA_SHORT, o + SEG_SELECTOR);
            x.type = m.get(JAVA_BYTE, o + SEG_TYPE); x.present = m.get(JAVA_BYTE, o + SEG_PRESENT); x.dpl = m.get(JAVA_BYTE, o + SEG_DPL);
            x.db = m.get(JAVA_BYTE, o + SEG_DB); x.s = m.get(JAVA_BYTE, o + SEG_S); x.l = m.get(JAVA_BYTE, o + SEG_L);
            x.g = m.get(JAVA_BYTE, o + SEG_G); x.avl = m.get(JAVA_BYTE, o + SEG_AVL); x.unusable = m.get(JAVA_BYTE, o + SEG_UNUSABLE);
            return x;
        }

        void write(MemorySegment m, long o) {
            m.set(JAVA_LONG, o + SEG_BASE, base);
            m.set(JAVA_INT, o + SEG_LIMIT, limit);
            m.set(JAVA_SHORT, o + SEG_SELECTOR, selector);
            m.set(JAVA_BYTE, o + SEG_TYPE, type); m.set(JAVA_BYTE, o + SEG_PRESENT, present); m.set(JAVA_BYTE, o + SEG_DPL, dpl);
            m.set(JAVA_BYTE, o + SEG_DB, db); m.set(JAVA_BYTE, o + SEG_S, s); m.set(JAVA_BYTE, o + SEG_L, l);
            m.set(JAVA_BYTE, o + SEG_G, g); m.set(JAVA_BYTE, o + SEG_AVL, avl); m.set(JAVA_BYTE, o + SEG_UNUSABLE, unusable);
            m.set(JAVA_BYTE, o + SEG_PADDING, (byte) 0);
        }

        @Override
        public String toString() {
            return String.format("sel=%04x base=%016x limit=%08x type=%x p=%d dpl=%d db=%d s=%d l=%d g=%d",
                    selector & 0xffff, base, limit, type, present, dpl, db, s, l, g);
        }
    }

    private static final long OFF_CS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cs");
    private static final long OFF_DS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ds");
    private static final long OFF_ES = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "es");
    private static final long OFF_FS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "fs");
    private static final long OFF_GS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "gs");
    private static final long OFF_SS = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ss");
    private static final long OFF_TR = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "tr");
    private static final long OFF_LDT = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "ldt");
    private static final long OFF_CR0 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr0");
    private static final long OFF_CR2 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr2");
    private static final long OFF_CR3 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr3");
    private static final long OFF_CR4 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr4");
    private static final long OFF_CR8 = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "cr8");
    private static final long OFF_EFER = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "efer");
    private static final long OFF_APIC_BASE = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "apic_base");
    private static final long OFF_INTERRUPT_BITMAP = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "interrupt_bitmap");
    private static final long OFF_GDT = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "gdt");
    private static final long OFF_IDT = KvmLayouts.offset(KvmLayouts.KVM_SREGS, "idt");

    public Segment cs, ds, es, fs, gs, ss, tr, ldt;
    public long gdtBase, idtBase;
    public short gdtLimit, idtLimit;
    public long cr0, cr2, cr3, cr4, cr8, efer, apicBase;
    public final long[] interruptBitmap = new long[4];

    static Sregs read(MemorySegment m) {
        Sregs r = new Sregs();
        r.cs = Segment.read(m, OFF_CS); r.ds = Segment.read(m, OFF_DS); r.es = Segment.read(m, OFF_ES); r.fs = Segment.read(m, OFF_FS);
        r.gs = Segment.read(m, OFF_GS); r.ss = Segment.read(m, OFF_SS); r.tr = Segment.read(m, OFF_TR); r.ldt = Segment.read(m, OFF_LDT);
        r.gdtBase = m.get(JAVA_LONG, OFF_GDT); r.gdtLimit = m.get(JAVA_SHORT, OFF_GDT + 8);
        r.idtBase = m.get(JAVA_LONG, OFF_IDT); r.idtLimit = m.get(JAVA_SHORT, OFF_IDT + 8);
        r.cr0 = m.get(JAVA_LONG, OFF_CR0); r.cr2 = m.get(JAVA_LONG, OFF_CR2); r.cr3 = m.get(JAVA_LONG, OFF_CR3);
        r.cr4 = m.get(JAVA_LONG, OFF_CR4); r.cr8 = m.get(JAVA_LONG, OFF_CR8); r.efer = m.get(JAVA_LONG, OFF_EFER);
        r.apicBase = m.get(JAVA_LONG, OFF_APIC_BASE);
        for (int i = 0; i < 4; i++) r.interruptBitmap[i] = m.get(JAVA_LONG, OFF_INTERRUPT_BITMAP + 8L * i);
        return r;
    }

    void write(MemorySegment m) {
        cs.write(m, OFF_CS); ds.write(m, OFF_DS); es.write(m, OFF_ES); fs.write(m, OFF_FS);
        gs.write(m, OFF_GS); ss.write(m, OFF_SS); tr.write(m, OFF_TR); ldt.write(m, OFF_LDT);
        m.set(JAVA_LONG, OFF_GDT, gdtBase); m.set(JAVA_SHORT, OFF_GDT + 8, gdtLimit);
        m.set(JAVA_LONG, OFF_IDT, idtBase); m.set(JAVA_SHORT, OFF_IDT + 8, idtLimit);
        m.set(JAVA_LONG, OFF_CR0, cr0); m.set(JAVA_LONG, OFF_CR2, cr2); m.set(JAVA_LONG, OFF_CR3, cr3);
        m.set(JAVA_LONG, OFF_CR4, cr4); m.set(JAVA_LONG, OFF_CR8, cr8); m.set(JAVA_LONG, OFF_EFER, efer);
        m.set(JAVA_LONG, OFF_APIC_BASE, apicBase);
        for (int i = 0; i < 4; i++) m.set(JAVA_LONG, OFF_INTERRUPT_BITMAP + 8L * i, interruptBitmap[i]);
    }

    @Override
    public String toString() {
        return String.format("cs: %s%nss: %s%nds: %s%ntr: %s%ngdt=%016x/%04x idt=%016x/%04x%n"
                        + "cr0=%016x cr2=%016x cr3=%016x cr4=%016x efer=%016x apic_base=%016x",
                cs, ss, ds, tr, gdtBase, gdtLimit & 0xffff, idtBase, idtLimit & 0xffff, cr0, cr2, cr3, cr4, efer, apicBase);
    }
}
