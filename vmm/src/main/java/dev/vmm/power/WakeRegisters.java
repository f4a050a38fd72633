package dev.vmm.power;

import dev.vmm.ffm.kvm.Regs;
import dev.vmm.ffm.kvm.Sregs;
import dev.vmm.ffm.kvm.VcpuFd;

/**
 * The boot processor's register state for a resume at a {@link WakeEntry}, as firmware leaves it
 * when it jumps to the waking vector: the reset state (CR0 = ET, paging and long mode off, RFLAGS =
 * 2, general registers 0) except CS:IP, and for the protected-mode entry CR0.PE with flat 4 GiB
 * code and data segments. {@link #fill} is pure (tested without KVM); {@link #apply} writes it to a
 * vCPU with KVM_SET_SREGS/KVM_SET_REGS and can only run on a KVM host.
 */
public final class WakeRegisters {
    /** KVM_MP_STATE_INIT_RECEIVED: an application processor waiting for the OS's SIPI after the resume. */
    public static final int MP_STATE_INIT_RECEIVED = 2;

    private WakeRegisters() {}

    /** Sets {@code s} and {@code r} (fresh or read from the vCPU) for entry {@code e}; the APIC base and interrupt bitmap stay. */
    public static void fill(Sregs s, Regs r, WakeEntry e) {
        boolean real = e.mode() == WakeEntry.Mode.REAL;
        s.cs = segment(e.selector(), e.csBase(), real ? 0xFFFF : 0xFFFF_FFFF, 0xB, !real);
        Sregs.Segment data = segment(real ? 0 : 0x18, 0, real ? 0xFFFF : 0xFFFF_FFFF, 0x3, !real);
        s.ds = data;
        s.es = segment(data.selector, 0, data.limit, 0x3, !real);
        s.fs = segment(data.selector, 0, data.limit, 0x3, !real);
        s.gs = segment(data.selector, 0, data.limit, 0x3, !real);
        s.ss = segment(data.selector, 0, data.limit, 0x3, !real);
        Sregs.Segment tr = new Sregs.Segment();
        tr.type = 0xB;
        tr.present = 1;
        tr.limit = 0xFFFF;
        s.tr = tr;
        Sregs.Segment ldt = new Sregs.Segment();
        ldt.type = 0x2;
        ldt.present = 1;
        ldt.limit = 0xFFFF;
        s.ldt = ldt;
        s.gdtBase = 0;
        s.gdtLimit = (short) 0xFFFF;
        s.idtBase = 0;
        s.idtLimit = (short) 0xFFFF;
        s.cr0 = real ? 0x10 : 0x11;     // ET (+ PE): caches on, paging off
        s.cr2 = 0;
        s.cr3 = 0;
        s.cr4 = 0;
        s.efer = 0;
        r.rax = r.rbx = r.rcx = r.rdx = r.rsi = r.rdi = r.rsp = r.rbp = 0;
        r.r8 = r.r9 = r.r10 = r.r11 = r.r12 = r.r13 = r.r14 = r.r15 = 0;
        r.rip = e.ip();
        r.rflags = 0x2;
    }

    /** Puts {@code vcpu} (parked, outside KVM_RUN) at {@code e}. Needs /dev/kvm: not run in this repository's tests. */
    public static void apply(VcpuFd vcpu, WakeEntry e) {
        Sregs s = vcpu.getSregs();
        Regs r = new Regs();
        fill(s, r, e);
        vcpu.setSregs(s);
        vcpu.setRegs(r);
    }

    private static Sregs.Segment segment(int selector, long base, long limit, int type, boolean flat32) {
        Sregs.Segment x = new Sregs.Segment();
        x.selector = (short) selector;
        x.base = base;
        x.limit = (int) limit;
        x.type = (byte) type;
        x.present = 1;
        x.s = 1;
        x.g = (byte) (flat32 ? 1 : 0);
        x.db = (byte) (flat32 ? 1 : 0);
        return x;
    }
}
