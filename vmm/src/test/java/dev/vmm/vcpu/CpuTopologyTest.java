package dev.vmm.vcpu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.ffm.kvm.CpuidEntries;
import java.util.List;
import org.junit.jupiter.api.Test;

class CpuTopologyTest {
    /** The leaves an AMD EPYC host with SMT reports (values as on this host: 2 threads per core). */
    private static CpuidEntries amdHostWithSmt() {
        return new CpuidEntries(List.of(
                new CpuidEntries.Entry(0x1, 0, 0, 0x00a00f11, 0x00020800, 0x7ed8320b, 0x178bfbff),
                new CpuidEntries.Entry(0xb, 0, 1, 1, 2, 0x100, 0),
                new CpuidEntries.Entry(0xb, 1, 1, 1, 2, 0x201, 0),
                new CpuidEntries.Entry(0x80000008, 0, 0, 0x3030, 0, 0x1001, 0),
                new CpuidEntries.Entry(0x8000001e, 0, 0, 1, 0x0100, 0, 0),
                new CpuidEntries.Entry(0x40000001, 0, 0, 0x01007afb, 0, 0, 0)));
    }

    @Test
    void eachVcpuHasItsOwnApicIdAndOneThreadPerCore() {
        for (int apic = 0; apic < 4; apic++) {
            CpuidEntries c = CpuTopology.forVcpu(amdHostWithSmt(), apic, 4, true);
            assertThat(c.find(0x1, 0).ebx >>> 24).isEqualTo(apic);
            assertThat((c.find(0x1, 0).ebx >>> 16) & 0xff).as("logical CPUs per package").isEqualTo(4);
            assertThat(c.find(0xb, 0).ebx).as("threads per core").isEqualTo(1);
            assertThat(c.find(0xb, 1).ebx).as("logical CPUs at core level").isEqualTo(4);
            assertThat(c.find(0xb, 1).eax).as("APIC-id shift to the package").isEqualTo(2);
            assertThat(c.find(0xb, 1).edx).isEqualTo(apic);
            CpuidEntries.Entry ext = c.find(0x8000001e, 0);
            assertThat(ext.eax).isEqualTo(apic);
            assertThat((ext.ebx >>> 8) & 0xff).as("AMD threads per core - 1 (host says 1)").isZero();
            assertThat(ext.ebx & 0xff).as("core id").isEqualTo(apic);
            assertThat(c.find(0x80000008, 0).ecx & 0xff).as("AMD cores - 1").isEqualTo(3);
            assertThat((c.find(0x80000008, 0).ecx >>> 12) & 0xf).as("ApicIdCoreIdSize").isEqualTo(2);
        }
    }

    /** What KVM_GET_SUPPORTED_CPUID gave on this project's PVM host: leaf 0xB subleaf 0 only, no 0x8000001E. */
    private static CpuidEntries amdHostWithoutTopologyLeaves() {
        return new CpuidEntries(new java.util.ArrayList<>(List.of(
                new CpuidEntries.Entry(0x0, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65),
                new CpuidEntries.Entry(0x1, 0, 0, 0x00a00f11, 0x00020800, 0x7ed8320b, 0x178bfbff),
                new CpuidEntries.Entry(0xb, 0, 1, 0, 1, 0x100, 0),
                new CpuidEntries.Entry(0x80000000, 0, 0, 0x80000021, 0, 0, 0),
                new CpuidEntries.Entry(0x80000001, 0, 0, 0x00a00f11, 0, 0x00400393, 0x23d3fbff),
                new CpuidEntries.Entry(0x80000008, 0, 0, 0x3030, 0, 0x1001, 0))));
    }

    @Test
    void missingTopologyLeavesAreAddedSoTheGuestSeesOnePackage() {
        CpuidEntries c = CpuTopology.forVcpu(amdHostWithoutTopologyLeaves(), 1, 2, true);
        CpuidEntries.Entry core = c.find(0xb, 1);
        assertThat(core).as("leaf 0xB subleaf 1 (core level)").isNotNull();
        assertThat(core.eax).as("APIC-id shift to the package").isEqualTo(1);
        assertThat(core.ecx >>> 8 & 0xff).as("level type core").isEqualTo(2);
        assertThat(c.find(0xb, 0).ebx).isEqualTo(1);
        assertThat(c.find(0xb, 0).edx).as("x2APIC id").isEqualTo(1);
        CpuidEntries.Entry topo = c.find(0x8000001e, 0);
        assertThat(topo).as("AMD 0x8000001E added because TOPOEXT is offered").isNotNull();
        assertThat(topo.eax).isEqualTo(1);
        assertThat(topo.ebx & 0xff).as("core id").isEqualTo(1);
    }

    @Test
    void noTopologyLeavesAreInventedBeyondTheMaximumLeaf() {
        CpuidEntries host = amdHostWithoutTopologyLeaves();
        host.find(0, 0).eax = 0x7;
        host.find(0x80000001, 0).ecx &= ~(1 << 22);
        CpuidEntries c = CpuTopology.forVcpu(host, 0, 2, true);
        assertThat(c.find(0xb, 1)).isNull();
        assertThat(c.find(0x8000001e, 0)).isNull();
    }

    @Test
    void singleVcpuHasNoHyperThreadingBit() {
        CpuidEntries c = CpuTopology.forVcpu(amdHostWithSmt(), 0, 1, true);
        assertThat(c.find(0x1, 0).edx & (1 << 28)).isZero();
        assertThat(c.find(0x1, 0).ecx & (1 << 31)).as("hypervisor bit").isNotZero();
        assertThat(CpuTopology.forVcpu(amdHostWithSmt(), 0, 2, true).find(0x1, 0).edx & (1 << 28)).isNotZero();
    }

    @Test
    void hypercallFeaturesAreHiddenWhenHypercallsDoNotWork() {
        int pv = CpuTopology.KVM_FEATURE_PV_UNHALT | CpuTopology.KVM_FEATURE_PV_SEND_IPI
                | CpuTopology.KVM_FEATURE_PV_SCHED_YIELD;
        assertThat(CpuTopology.forVcpu(amdHostWithSmt(), 0, 2, true).find(0x40000001, 0).eax & pv).isEqualTo(pv);
        int without = CpuTopology.forVcpu(amdHostWithSmt(), 0, 2, false).find(0x40000001, 0).eax;
        assertThat(without & pv).isZero();
        assertThat(without & 1).as("clocksource bits stay").isEqualTo(1);
    }

    @Test
    void theHostTableIsNotModified() {
        CpuidEntries host = amdHostWithSmt();
        CpuTopology.forVcpu(host, 3, 4, false);
        assertThat(host.find(0x8000001e, 0).ebx).isEqualTo(0x0100);
        assertThat(host.find(0x1, 0).ebx).isEqualTo(0x00020800);
    }
}
