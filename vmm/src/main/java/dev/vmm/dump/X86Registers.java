package dev.vmm.dump;

/**
 * One vCPU's x86_64 general registers as an ELF core's NT_PRSTATUS carries them (Linux's
 * {@code user_regs_struct}): what a debugger ({@code gdb}, {@code crash}) reads back per CPU.
 */
public record X86Registers(long rax, long rbx, long rcx, long rdx, long rsi, long rdi, long rsp, long rbp,
                           long r8, long r9, long r10, long r11, long r12, long r13, long r14, long r15,
                           long rip, long rflags, int cs, int ss, int ds, int es, int fs, int gs,
                           long fsBase, long gsBase) {

    /** From KVM's register sets. */
    public static X86Registers of(dev.vmm.ffm.kvm.Regs r, dev.vmm.ffm.kvm.Sregs s) {
        return new X86Registers(r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags, s.cs.selector & 0xffff, s.ss.selector & 0xffff,
                s.ds.selector & 0xffff, s.es.selector & 0xffff, s.fs.selector & 0xffff, s.gs.selector & 0xffff,
                s.fs.base, s.gs.base);
    }

    /** The 27 slots of {@code user_regs_struct}, in its order (orig_rax is -1: no system call). */
    long[] userRegs() {
        return new long[] {r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, -1L, rip,
                cs, rflags, rsp, ss, fsBase, gsBase, ds, es, fs, gs};
    }
}
