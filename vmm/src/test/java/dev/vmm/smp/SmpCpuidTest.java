package dev.vmm.smp;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.vcpu.CpuTopology;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CPUID topology leaves agree with the APIC ids of {@link SmpTopology} (Intel SDM vol. 3A
 * §9.9.1: a guest takes the socket as the APIC id shifted right by leaf 0xB level 1's EAX, the core
 * by level 0's EAX), so Linux finds the sockets, cores and threads the user asked for.
 */
class SmpCpuidTest {
    private static CpuidEntries host() {
        return new CpuidEntries(List.of(
                new CpuidEntries.Entry(0x0, 0, 0, 0x10, 0, 0, 0),
                new CpuidEntries.Entry(0x1, 0, 0, 0x000306c3, 0x00020800, 0x7ed8320b, 0x178bfbff),
                new CpuidEntries.Entry(0x4, 0, 1, 0x121, 0x1c0003f, 0x3f, 0),
                new CpuidEntries.Entry(0xb, 0, 1, 1, 2, 0x100, 0),
                new CpuidEntries.Entry(0xb, 1, 1, 4, 16, 0x201, 0),
                new CpuidEntries.Entry(0x80000000, 0, 0, 0x8000001e, 0, 0, 0),
                new CpuidEntries.Entry(0x80000001, 0, 0, 0, 0, 1 << 22, 0),
                new CpuidEntries.Entry(0x80000008, 0, 0, 0x3030, 0, 0x1001, 0),
                new CpuidEntries.Entry(0x8000001e, 0, 0, 1, 0x0100, 0, 0)));
    }

    @Test
    void twoSocketsOfTwoCoresOfTwoThreads() {
        SmpTopology t = SmpTopology.parse("3,maxcpus=8,sockets=2,cores=2,threads=2", "pc");
        assertThat(t.apicIds(8)).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
        for (int i = 0; i < t.maxCpus(); i++) {
            int apic = t.apicId(i);
            CpuidEntries c = CpuTopology.forVcpu(host(), apic, t, true);
            SmpTopology.Slot s = t.slot(i);
            assertThat(c.find(0x1, 0).ebx >>> 24).isEqualTo(apic);
            assertThat((c.find(0x1, 0).ebx >>> 16) & 0xff).as("logical CPUs per package").isEqualTo(4);
            assertThat(c.find(0x1, 0).edx & (1 << 28)).as("HTT").isNotZero();
            assertThat(c.find(0xb, 0).ebx).as("threads per core").isEqualTo(2);
            assertThat(c.find(0xb, 1).ebx).as("logical CPUs per package").isEqualTo(4);
            int threadShift = c.find(0xb, 0).eax, packageShift = c.find(0xb, 1).eax;
            assertThat(c.find(0xb, 1).edx >>> packageShift).as("socket of CPU %d", i).isEqualTo(s.socket());
            assertThat((c.find(0xb, 0).edx & ((1 << packageShift) - 1)) >>> threadShift).as("core of CPU %d", i).isEqualTo(s.core());
            assertThat(c.find(0xb, 0).edx & ((1 << threadShift) - 1)).as("thread of CPU %d", i).isEqualTo(s.thread());
            assertThat(c.find(0x4, 0).eax >>> 26).as("cores per package - 1").isEqualTo(1);
            assertThat(c.find(0x80000008, 0).ecx & 0xff).as("AMD logical CPUs per package - 1").isEqualTo(3);
            assertThat((c.find(0x8000001e, 0).ebx >>> 8) & 0xff).as("AMD threads per core - 1").isEqualTo(1);
        }
    }

    @Test
    void coreCountsThatAreNoPowerOfTwoLeaveGapsAsQemu() {
        SmpTopology t = SmpTopology.parse("1,maxcpus=6,sockets=2,cores=3", "pc");
        assertThat(t.apicIds(6)).containsExactly(0, 1, 2, 4, 5, 6);
        CpuidEntries c = CpuTopology.forVcpu(host(), t.apicId(3), t, true);
        assertThat(c.find(0xb, 1).eax).isEqualTo(2);
        assertThat(c.find(0xb, 1).edx >>> 2).isEqualTo(1);
    }

    @Test
    void plainCpusIsTodaysTopology() {
        SmpTopology t = SmpTopology.parse("4", "pc");
        assertThat(t).isEqualTo(SmpTopology.of(4));
        assertThat(t.hotpluggable()).isFalse();
        for (int apic = 0; apic < 4; apic++) {
            assertThat(CpuTopology.forVcpu(host(), apic, t, true).entries())
                    .usingRecursiveFieldByFieldElementComparator().isEqualTo(CpuTopology.forVcpu(host(), apic, 4, true).entries());
        }
    }
}
