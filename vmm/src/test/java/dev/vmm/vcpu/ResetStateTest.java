package dev.vmm.vcpu;

import dev.vmm.ffm.kvm.Regs;
import dev.vmm.ffm.kvm.Sregs;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The firmware-boot reset state against the Intel SDM's "processor state after reset" table. */
class ResetStateTest {
    @Test
    void firstFetchIsSixteenBytesBelowFourGiBInRealMode() {
        Sregs s = new Sregs();
        Regs r = new Regs();
        r.rax = 123; r.rsp = 0x7000; r.rip = 0x100000;           // leftovers of a previous run
        ResetState.apply(s, r, 0x000806EA);
        assertEquals(0xFFFFFFF0L, s.cs.base + r.rip, "reset vector");
        assertEquals((short) 0xF000, s.cs.selector);
        assertEquals(0xFFFF, s.cs.limit);
        assertEquals(0xB, s.cs.type);
        assertEquals(0, s.cs.db, "16-bit code");
        assertEquals(0, s.cs.l);
        assertEquals(0, s.cs.g);
        assertEquals(0, s.cr0 & 1, "PE clear: real mode");
        assertEquals(0x60000010L, s.cr0, "CD | NW | ET");
        assertEquals(0, s.efer);
        assertEquals(0, s.cr4);
        for (Sregs.Segment d : new Sregs.Segment[] {s.ds, s.es, s.fs, s.gs, s.ss}) {
            assertEquals(0, d.base);
            assertEquals(0, d.selector);
            assertEquals(0xFFFF, d.limit);
            assertEquals(3, d.type);
            assertEquals(1, d.present);
        }
        assertEquals(0, s.gdtBase);
        assertEquals((short) 0xFFFF, s.idtLimit);
        assertEquals(2, s.ldt.type);
        assertEquals(0, s.ldt.s, "LDT is a system segment");
        assertEquals(0, s.tr.s);
        assertEquals(2, r.rflags);
        assertEquals(0x000806EAL, r.rdx, "EDX = CPUID.1:EAX");
        assertEquals(0, r.rax);
        assertEquals(0, r.rsp);
    }
}
