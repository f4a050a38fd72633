package dev.vmm.vcpu;

import dev.vmm.boot.BootEntry;
import dev.vmm.boot.X86Layout;
import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.kvm.Regs;
import dev.vmm.ffm.kvm.Sregs;
import dev.vmm.ffm.kvm.VcpuBlob;
import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.memory.GuestMemory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Initial architectural state of a vCPU: FPU, MSRs, LAPIC wiring, and the boot vCPU's entry state. */
public final class VcpuSetup {
    private VcpuSetup() {}

    static final long GDT_CODE32 = 0x00CF_9B00_0000_FFFFL;
    static final long GDT_CODE64 = 0x00AF_9B00_0000_FFFFL;
    static final long GDT_DATA = 0x00CF_9300_0000_FFFFL;
    static final long GDT_TSS = 0x0000_8B00_0000_0067L;
    static final short SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_TSS = 0x18;

    // MSRs with a defined reset value that KVM does not set for us.
    private static final int MSR_IA32_TSC = 0x10, MSR_IA32_SYSENTER_CS = 0x174, MSR_IA32_SYSENTER_ESP = 0x175,
            MSR_IA32_SYSENTER_EIP = 0x176, MSR_IA32_MISC_ENABLE = 0x1a0, MSR_MTRR_DEF_TYPE = 0x2ff,
            MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083, MSR_SYSCALL_MASK = 0xc0000084,
            MSR_KERNEL_GS_BASE = 0xc0000102;

    /** FPU/SSE reset state (x87 control word 0x37f, MXCSR 0x1f80). */
    public static void setupFpu(VcpuFd vcpu) {
        byte[] fpu = new byte[VcpuBlob.FPU.size()];
        ByteBuffer b = ByteBuffer.wrap(fpu).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((int) dev.vmm.ffm.kvm.KvmLayouts.offset(dev.vmm.ffm.kvm.KvmLayouts.KVM_FPU, "fcw"), (short) 0x37f);
        b.putInt((int) dev.vmm.ffm.kvm.KvmLayouts.offset(dev.vmm.ffm.kvm.KvmLayouts.KVM_FPU, "mxcsr"), 0x1f80);
        vcpu.set(VcpuBlob.FPU, fpu);
    }

    /**
     * Boot MSRs. Hosts differ in what they accept (a PVM host refuses some), so each is set on its
     * own and refusals are returned for the caller to report, not treated as fatal.
     */
    public static List<String> setupMsrs(VcpuFd vcpu) {
        List<VcpuFd.Msr> msrs = List.of(
                new VcpuFd.Msr(MSR_IA32_SYSENTER_CS, 0), new VcpuFd.Msr(MSR_IA32_SYSENTER_ESP, 0),
                new VcpuFd.Msr(MSR_IA32_SYSENTER_EIP, 0), new VcpuFd.Msr(MSR_STAR, 0), new VcpuFd.Msr(MSR_LSTAR, 0),
                new VcpuFd.Msr(MSR_CSTAR, 0), new VcpuFd.Msr(MSR_SYSCALL_MASK, 0), new VcpuFd.Msr(MSR_KERNEL_GS_BASE, 0),
                new VcpuFd.Msr(MSR_IA32_TSC, 0), new VcpuFd.Msr(MSR_IA32_MISC_ENABLE, 1 /* fast strings */),
                new VcpuFd.Msr(MSR_MTRR_DEF_TYPE, (1 << 11) | 6 /* MTRRs on, write-back default */));
        List<String> refused = new ArrayList<>();
        for (VcpuFd.Msr m : msrs) {
            try {
                vcpu.setMsrs(List.of(m));
            } catch (NativeException e) {
                refused.add(String.format("0x%x", m.index()));
            }
        }
        return refused;
    }

    /** LINT0 as ExtINT (the PIC's output) and LINT1 as NMI, as a PC's BIOS leaves them. */
    public static void setupLapic(VcpuFd vcpu) {
        byte[] lapic = vcpu.get(VcpuBlob.LAPIC);
        ByteBuffer b = ByteBuffer.wrap(lapic).order(ByteOrder.LITTLE_ENDIAN);
        final int lvtLint0 = 0x350, lvtLint1 = 0x360, extInt = 7 << 8, nmi = 4 << 8, modeMask = 7 << 8;
        b.putInt(lvtLint0, (b.getInt(lvtLint0) & ~modeMask) | extInt);
        b.putInt(lvtLint1, (b.getInt(lvtLint1) & ~modeMask) | nmi);
        vcpu.set(VcpuBlob.LAPIC, lapic);
    }

    /** Writes the boot GDT and, for 64-bit entry, identity page tables covering the first 4 GiB. */
    public static void writeBootTables(GuestMemory mem, BootEntry.Mode mode) {
        long code = mode == BootEntry.Mode.LONG_64 ? GDT_CODE64 : GDT_CODE32;
        mem.writeU64(X86Layout.GDT_ADDR, 0);
        mem.writeU64(X86Layout.GDT_ADDR + 8, code);
        mem.writeU64(X86Layout.GDT_ADDR + 16, GDT_DATA);
        mem.writeU64(X86Layout.GDT_ADDR + 24, GDT_TSS);
        mem.writeU64(X86Layout.IDT_ADDR, 0);
        if (mode == BootEntry.Mode.LONG_64) {
            mem.slice(X86Layout.PML4_ADDR, 0x1000).fill((byte) 0);
            mem.slice(X86Layout.PDPT_ADDR, 0x1000).fill((byte) 0);
            mem.writeU64(X86Layout.PML4_ADDR, X86Layout.PDPT_ADDR | 0x3);
            for (int g = 0; g < 4; g++) {
                long pd = X86Layout.PD_ADDR + 0x1000L * g;
                mem.writeU64(X86Layout.PDPT_ADDR + 8L * g, pd | 0x3);
                for (int i = 0; i < 512; i++) {
                    mem.writeU64(pd + 8L * i, ((long) g << 30) + ((long) i << 21) | 0x83); // present, rw, 2 MiB
                }
            }
        }
    }

    /** Registers and segment state for the boot vCPU at the kernel's entry point. */
    public static void setupBootVcpu(VcpuFd vcpu, BootEntry entry) {
        Sregs s = vcpu.getSregs();
        boolean lm = entry.mode() == BootEntry.Mode.LONG_64;
        s.cs = segment(SEL_CODE, 0xB, lm);
        s.ds = segment(SEL_DATA, 0x3, false);
        s.es = segment(SEL_DATA, 0x3, false);
        s.fs = segment(SEL_DATA, 0x3, false);
        s.gs = segment(SEL_DATA, 0x3, false);
        s.ss = segment(SEL_DATA, 0x3, false);
        Sregs.Segment tr = new Sregs.Segment();
        tr.selector = SEL_TSS; tr.type = 0xB; tr.present = 1; tr.limit = 0x67;
        s.tr = tr;
        s.gdtBase = X86Layout.GDT_ADDR;
        s.gdtLimit = 4 * 8 - 1;
        s.idtBase = X86Layout.IDT_ADDR;
        s.idtLimit = 0;
        if (lm) {
            s.cr0 = 0x8005_0033L;     // PG | AM | WP | NE | ET | MP | PE
            s.cr3 = X86Layout.PML4_ADDR;
            s.cr4 = 0x20;             // PAE
            s.efer = 0x500;           // LME | LMA
        } else {
            s.cr0 = 0x11;             // ET | PE, paging off
            s.cr3 = 0;
            s.cr4 = 0;
            s.efer = 0;
        }
        vcpu.setSregs(s);
        Regs r = new Regs();
        r.rip = entry.rip();
        r.rax = entry.rax();
        r.rbx = entry.rbx();
        r.rsi = entry.rsi();
        r.rflags = 0x2;
        r.rsp = X86Layout.BOOT_STACK_TOP;
        r.rbp = X86Layout.BOOT_STACK_TOP;
        vcpu.setRegs(r);
    }

    private static Sregs.Segment segment(short selector, int type, boolean longMode) {
        Sregs.Segment x = new Sregs.Segment();
        x.selector = selector;
        x.base = 0;
        x.limit = 0xFFFFFFFF;
        x.type = (byte) type;
        x.present = 1;
        x.s = 1;
        x.g = 1;
        x.l = (byte) (longMode ? 1 : 0);
        x.db = (byte) (longMode ? 0 : 1);
        return x;
    }
}
