package dev.vmm.ffm.kvm;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** {@code struct kvm_regs}: general-purpose registers, RIP and RFLAGS. */
public final class Regs {
    public long rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags;

    static Regs read(MemorySegment s) {
        Regs r = new Regs();
        long[] v = s.toArray(JAVA_LONG);
        r.rax = v[0]; r.rbx = v[1]; r.rcx = v[2]; r.rdx = v[3]; r.rsi = v[4]; r.rdi = v[5]; r.rsp = v[6]; r.rbp = v[7];
        r.r8 = v[8]; r.r9 = v[9]; r.r10 = v[10]; r.r11 = v[11]; r.r12 = v[12]; r.r13 = v[13]; r.r14 = v[14]; r.r15 = v[15];
        r.rip = v[16]; r.rflags = v[17];
        return r;
    }

    void write(MemorySegment s) {
        long[] v = {rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags};
        MemorySegment.copy(v, 0, s, JAVA_LONG, 0, v.length);
    }

    @Override
    public String toString() {
        return String.format(
                "rax=%016x rbx=%016x rcx=%016x rdx=%016x%nrsi=%016x rdi=%016x rsp=%016x rbp=%016x%n"
                        + "r8 =%016x r9 =%016x r10=%016x r11=%016x%nr12=%016x r13=%016x r14=%016x r15=%016x%n"
                        + "rip=%016x rflags=%016x",
                rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags);
    }
}
