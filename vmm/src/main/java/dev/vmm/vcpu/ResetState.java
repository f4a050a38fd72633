package dev.vmm.vcpu;

import dev.vmm.ffm.kvm.Regs;
import dev.vmm.ffm.kvm.Sregs;
import dev.vmm.ffm.kvm.VcpuFd;

/**
 * The architectural power-on state of an x86 processor (Intel SDM vol. 3, "Processor State After
 * Reset"), where firmware boot starts: real mode, CS selector F000h with base FFFF0000h, IP FFF0h —
 * the first instruction is fetched at FFFFFFF0h, 16 bytes below 4 GiB, inside the ROM mapped there.
 * The other segments are zero-based with 64 KiB limits, GDTR/IDTR base 0 limit FFFFh, CR0 =
 * 60000010h (CD, NW, ET), EFLAGS 2, and EDX holds the processor signature (CPUID leaf 1 EAX).
 * {@link #apply} fills register blocks and touches nothing else, so it is tested without KVM.
 */
public final class ResetState {
    public static final int CS_SELECTOR = 0xF000;
    public static final long CS_BASE = 0xFFFF_0000L, RIP = 0xFFF0L, CR0 = 0x6000_0010L, RFLAGS = 0x2;

    private ResetState() {}

    /** Sets {@code s} and {@code r} to the reset state; {@code signature} is CPUID.1:EAX. */
    public static void apply(Sregs s, Regs r, int signature) {
        s.cs = realModeSegment(CS_SELECTOR, CS_BASE, 0xB);        // execute/read, accessed
        s.ds = realModeSegment(0, 0, 0x3);                        // read/write, accessed
        s.es = realModeSegment(0, 0, 0x3);
        s.fs = realModeSegment(0, 0, 0x3);
        s.gs = realModeSegment(0, 0, 0x3);
        s.ss = realModeSegment(0, 0, 0x3);
        Sregs.Segment tr = realModeSegment(0, 0, 0xB);            // busy 32-bit TSS type, as KVM's reset leaves it
        tr.s = 0;
        s.tr = tr;
        Sregs.Segment ldt = realModeSegment(0, 0, 0x2);           // LDT
        ldt.s = 0;
        s.ldt = ldt;
        s.gdtBase = 0;
        s.gdtLimit = (short) 0xFFFF;
        s.idtBase = 0;
        s.idtLimit = (short) 0xFFFF;
        s.cr0 = CR0;
        s.cr2 = 0;
        s.cr3 = 0;
        s.cr4 = 0;
        s.efer = 0;
        r.rax = r.rbx = r.rcx = r.rsi = r.rdi = r.rsp = r.rbp = 0;
        r.r8 = r.r9 = r.r10 = r.r11 = r.r12 = r.r13 = r.r14 = r.r15 = 0;
        r.rip = RIP;
        r.rflags = RFLAGS;
        r.rdx = signature & 0xFFFF_FFFFL;
    }

    /** Puts the reset state into a vCPU (the boot vCPU of a firmware boot). */
    public static void applyTo(VcpuFd vcpu, int signature) {
        write(vcpu, (s, r) -> apply(s, r, signature));
    }

    /**
     * Reads the vCPU's special registers (APIC base and interrupt bitmap are kept), lets {@code fill}
     * set them and fresh general registers, and writes both back (KVM only).
     */
    public static void write(VcpuFd vcpu, java.util.function.BiConsumer<Sregs, Regs> fill) {
        Sregs s = vcpu.getSregs();
        Regs r = new Regs();
        fill.accept(s, r);
        vcpu.setSregs(s);
        vcpu.setRegs(r);
    }

    private static Sregs.Segment realModeSegment(int selector, long base, int type) {
        Sregs.Segment x = new Sregs.Segment();
        x.selector = (short) selector;
        x.base = base;
        x.limit = 0xFFFF;
        x.type = (byte) type;
        x.present = 1;
        x.s = 1;
        return x;
    }
}
