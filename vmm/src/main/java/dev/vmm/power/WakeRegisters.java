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
        // The reset state (segments, descriptor tables, control and general registers), then what differs.
        dev.vmm.vcpu.ResetState.apply(s, r, 0);
        boolean real = e.mode() == WakeEntry.Mode.REAL;
        s.cs = segment(e.selector(), e.csBase(), real ? 0xFFFF : 0xFFFF_FFFF, 0xB, !real);
        if (!real) {
            s.ds = flatData();
            s.es = flatData();
            s.fs = flatData();
            s.gs = flatData();
            s.ss = flatData();
        }
        s.cr0 = real ? 0x10 : 0x11;     // ET (+ PE): caches on (the reset's CD/NW off), paging off
        r.rip = e.ip();
        r.rdx = 0;                      // no processor signature on a resume
    }

    /** The flat 4 GiB data segment (selector 18h) of the protected-mode waking vector. */
    private static Sregs.Segment flatData() {
        return segment(0x18, 0, 0xFFFF_FFFF, 0x3, true);
    }

    /** Puts {@code vcpu} (parked, outside KVM_RUN) at {@code e}. Needs /dev/kvm: not run in this repository's tests. */
    public static void apply(VcpuFd vcpu, WakeEntry e) {
        dev.vmm.vcpu.ResetState.write(vcpu, (s, r) -> fill(s, r, e));
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
