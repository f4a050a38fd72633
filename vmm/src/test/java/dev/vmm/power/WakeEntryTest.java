package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.ffm.kvm.Regs;
import dev.vmm.ffm.kvm.Sregs;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The waking vector from the FACS (found through our own ACPI tables) and the register state of the resume. */
class WakeEntryTest {
    @Test
    void realModeVectorSplitsIntoCsAndIp() {
        WakeEntry e = WakeEntry.decode(0x9A000, 0, 2);
        assertThat(e).isEqualTo(new WakeEntry(WakeEntry.Mode.REAL, 0x9A00, 0x9A000, 0));
        WakeEntry odd = WakeEntry.decode(0x12345, 0, 2);
        assertThat(odd.selector()).isEqualTo(0x1234);
        assertThat(odd.ip()).isEqualTo(5);
        assertThat(odd.linear()).isEqualTo(0x12345);
    }

    @Test
    void theSixtyFourBitVectorMeansFlatProtectedModeFromFacsVersionOne() {
        assertThat(WakeEntry.decode(0x9A000, 0x20_0000, 2)).isEqualTo(new WakeEntry(WakeEntry.Mode.PROTECTED_32, 0x10, 0, 0x20_0000));
        assertThat(WakeEntry.decode(0x9A000, 0x20_0000, 0).mode()).as("version 0 has no X vector").isEqualTo(WakeEntry.Mode.REAL);
    }

    @Test
    void unusableVectorsAreRefused() {
        assertThatThrownBy(() -> WakeEntry.decode(0, 0, 2)).hasMessageContaining("no waking vector");
        assertThatThrownBy(() -> WakeEntry.decode(0x10_0000, 0, 2)).hasMessageContaining("not reachable in real mode");
        assertThatThrownBy(() -> WakeEntry.decode(0, 1L << 32, 2)).hasMessageContaining("above 4 GiB");
    }

    @Test
    void theFacsIsFoundThroughRsdpRsdtAndFadtAsFirmwareFindsIt() {
        try (Arena arena = Arena.ofConfined()) {
            GuestMemory mem = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(1 << 20))));
            AcpiTables t = AcpiTables.builder(2).sleepStates(true, true).build(0xE0000);
            mem.write(t.address(), t.bytes());
            assertThatThrownBy(() -> WakeEntry.fromRsdp(mem, 0xE0000)).hasMessageContaining("no waking vector");
            long facs = t.tableAddresses().get("FACS");
            mem.writeU32(facs + 12, 0x9A000);                 // what the OS does before S3
            assertThat(WakeEntry.fromRsdp(mem, 0xE0000)).isEqualTo(new WakeEntry(WakeEntry.Mode.REAL, 0x9A00, 0x9A000, 0));
            assertThatThrownBy(() -> WakeEntry.fromRsdp(mem, 0xE0010)).hasMessageContaining("no RSDP");
        }
    }

    @Test
    void realModeResumeRegistersAreTheResetStateAtTheVector() {
        Sregs s = new Sregs();
        s.apicBase = 0xFEE0_0900L;
        s.cr0 = 0x8005_0033L;
        s.efer = 0x500;
        Regs r = new Regs();
        r.rax = 42;
        WakeRegisters.fill(s, r, WakeEntry.decode(0x12345, 0, 2));
        assertThat(s.cs.selector).isEqualTo((short) 0x1234);
        assertThat(s.cs.base).isEqualTo(0x12340);
        assertThat(s.cs.limit).isEqualTo(0xFFFF);
        assertThat(s.cs.db).isZero();
        assertThat(s.ds.base).isZero();
        assertThat(s.cr0 & 1).as("PE off").isZero();
        assertThat(s.cr0 & 0x8000_0000L).as("PG off").isZero();
        assertThat(s.efer).isZero();
        assertThat(s.apicBase).as("kept").isEqualTo(0xFEE0_0900L);
        assertThat(r.rip).isEqualTo(5);
        assertThat(r.rflags).isEqualTo(2);
        assertThat(r.rax).isZero();
    }

    @Test
    void protectedModeResumeRegistersAreFlat32Bit() {
        Sregs s = new Sregs();
        Regs r = new Regs();
        WakeRegisters.fill(s, r, WakeEntry.decode(0, 0x20_0000, 2));
        assertThat(s.cr0 & 1).isEqualTo(1);
        assertThat(s.cr0 & 0x8000_0000L).isZero();
        assertThat(s.cs.base).isZero();
        assertThat(s.cs.limit).isEqualTo(0xFFFF_FFFF);
        assertThat(s.cs.db).isEqualTo((byte) 1);
        assertThat(s.cs.g).isEqualTo((byte) 1);
        assertThat(s.ss.db).isEqualTo((byte) 1);
        assertThat(r.rip).isEqualTo(0x20_0000);
    }
}
