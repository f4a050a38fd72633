package dev.vmm.cpu;

import dev.vmm.cli.UsageException;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.KvmIoctls;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 14, test 2: Hyper-V leaves for several flag sets against the TLFS bit definitions (written
 * here from the TLFS "Feature Discovery" tables, not from the code under test), and the dependency
 * and host-capability errors.
 */
class HyperVTest {
    // TLFS HV_PARTITION_PRIVILEGE_MASK bit numbers (0x40000003 EAX).
    private static final int VP_RUNTIME = 0, TIME_REF_COUNT = 1, SYNIC = 2, SYNTIMERS = 3, APIC_MSRS = 4, HYPERCALL = 5,
            VP_INDEX = 6, RESET = 7, REFERENCE_TSC = 9, FREQUENCY = 11, REENLIGHTENMENT = 13;

    private static CpuidEntries.Entry leaf(CpuidEntries c, int f) {
        CpuidEntries.Entry e = c.find(f, 0);
        assertThat(e).as("leaf 0x%x", f).isNotNull();
        return e;
    }

    private static CpuidEntries withFlags(String spec) {
        return CpuResolver.definition(CpuSpec.parse(spec)).cpuid();
    }

    private static String ascii(int... regs) {
        byte[] b = new byte[regs.length * 4];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (regs[i / 4] >>> (8 * (i % 4)));
        return new String(b, StandardCharsets.US_ASCII);
    }

    @Test
    void vendorInterfaceAndKvmLeavesMoved() {
        CpuidEntries c = withFlags("Haswell,hv-relaxed");
        CpuidEntries.Entry v = leaf(c, 0x40000000);
        assertThat(ascii(v.ebx, v.ecx, v.edx)).isEqualTo("Microsoft Hv");
        assertThat(v.eax).as("highest Hyper-V leaf").isEqualTo(0x4000000a);
        assertThat(ascii(leaf(c, 0x40000001).eax)).isEqualTo("Hv#1");
        for (int f = 0x40000000; f <= 0x4000000a; f++) assertThat(c.find(f, 0)).isNotNull();
        CpuidEntries.Entry kvm = leaf(c, 0x40000100);
        assertThat(ascii(kvm.ebx, kvm.ecx, kvm.edx)).startsWith("KVMKVMKVM");
        assertThat(kvm.eax).isEqualTo(0x40000101);
        assertThat(leaf(c, 0x40000101).eax & 1).as("kvmclock still offered at its new place").isEqualTo(1);
        // Without hv-* flags KVM stays at 0x40000000.
        CpuidEntries plain = withFlags("Haswell");
        assertThat(ascii(leaf(plain, 0x40000000).ebx)).isEqualTo("KVMK");
        assertThat(plain.find(0x40000100, 0)).isNull();
    }

    @Test
    void relaxedIsARecommendationOnly() {
        CpuidEntries c = withFlags("Haswell,hv-relaxed");
        assertThat(leaf(c, 0x40000003).eax).as("only the hypercall MSRs").isEqualTo(1 << HYPERCALL);
        assertThat(leaf(c, 0x40000004).eax).as("relaxed timing (bit 5)").isEqualTo(1 << 5);
        assertThat(leaf(c, 0x40000004).ebx).as("spinlock retries: never notify").isEqualTo(0xffffffff);
    }

    @Test
    void windowsTypicalSet() {
        CpuidEntries c = withFlags("Skylake-Client,hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-vpindex,hv-runtime,hv-time,"
                + "hv-synic,hv-stimer,hv-stimer-direct,hv-reset,hv-frequencies,hv-reenlightenment,hv-tlbflush,hv-ipi");
        int privileges = leaf(c, 0x40000003).eax;
        for (int bit : new int[]{VP_RUNTIME, TIME_REF_COUNT, SYNIC, SYNTIMERS, APIC_MSRS, HYPERCALL, VP_INDEX, RESET,
                REFERENCE_TSC, FREQUENCY, REENLIGHTENMENT}) {
            assertThat(privileges & (1 << bit)).as("privilege bit %d", bit).isNotZero();
        }
        assertThat(privileges & ~0x2aff).as("nothing else (stats, idle, debug)").isZero();
        int edx = leaf(c, 0x40000003).edx;
        assertThat(edx).as("frequency MSRs (bit 8) and direct synthetic timers (bit 19)").isEqualTo((1 << 8) | (1 << 19));
        int rec = leaf(c, 0x40000004).eax;
        assertThat(rec).as("remote TLB flush 2, APIC MSRs 3, relaxed 5, cluster IPI 10, ex-processor masks 11")
                .isEqualTo((1 << 2) | (1 << 3) | (1 << 5) | (1 << 10) | (1 << 11));
        assertThat(leaf(c, 0x40000004).ebx).isEqualTo(0x1fff);
        assertThat(leaf(c, 0x40000002).eax).as("build number").isPositive();
        assertThat(leaf(c, 0x40000005).eax).as("max virtual processors").isEqualTo(dev.vmm.machine.MachineConfig.MAX_CPUS);
    }

    @Test
    void timeWithoutSynic() {
        CpuidEntries c = withFlags("EPYC,hv-time,hv-vpindex");
        assertThat(leaf(c, 0x40000003).eax).isEqualTo((1 << TIME_REF_COUNT) | (1 << REFERENCE_TSC) | (1 << VP_INDEX) | (1 << HYPERCALL));
        assertThat(leaf(c, 0x40000004).eax).isZero();
    }

    @Test
    void dependenciesAsQemuChecksThem() {
        Map<String, String> cases = Map.of(
                "hv-synic", "hv-synic needs hv-vpindex",
                "hv-vpindex,hv-synic,hv-stimer", "hv-stimer needs hv-time",
                "hv-time,hv-stimer,hv-vpindex", "hv-stimer needs hv-synic",
                "hv-vpindex,hv-synic,hv-time,hv-stimer-direct", "hv-stimer-direct needs hv-stimer",
                "hv-tlbflush", "hv-tlbflush needs hv-vpindex",
                "hv-ipi", "hv-ipi needs hv-vpindex");
        cases.forEach((flags, error) -> assertThatThrownBy(() -> CpuSpec.parse("host," + flags))
                .isInstanceOf(UsageException.class).hasMessageStartingWith("--cpu: " + error));
        assertThat(HyperV.dependencyError(EnumSet.of(HyperV.Flag.SYNIC, HyperV.Flag.VPINDEX))).isNull();
    }

    @Test
    void hostWithoutHyperVNamesTheFlagAndTheCapability() {
        HyperV.Config synic = CpuSpec.parse("host,hv-vpindex,hv-synic").hyperV();
        // A PVM host: no Hyper-V emulation at all.
        assertThat(HyperVHost.error(synic, cap -> 0, null))
                .isEqualTo("--cpu hv-vpindex: this host's KVM has no Hyper-V emulation (KVM_CAP_HYPERV = 0)");
        // Hyper-V but no SynIC v2.
        Set<Integer> caps = Set.of(KvmIoctls.KVM_CAP_HYPERV, KvmIoctls.KVM_CAP_HYPERV_VP_INDEX);
        assertThat(HyperVHost.error(synic, cap -> caps.contains(cap) ? 1 : 0, null))
                .isEqualTo("--cpu hv-synic: this host's KVM cannot provide it (KVM_CAP_HYPERV_SYNIC2 = 0)");
        // Everything there.
        assertThat(HyperVHost.error(synic, cap -> 1, null)).isNull();
        // KVM_GET_SUPPORTED_HV_CPUID without the frequency MSRs.
        HyperV.Config freq = CpuSpec.parse("host,hv-frequencies").hyperV();
        CpuidEntries hv = new CpuidEntries(new java.util.ArrayList<>(java.util.List.of(
                new CpuidEntries.Entry(0x40000003, 0, 0, 1 << HYPERCALL, 0, 0, 0))));
        assertThat(HyperVHost.error(freq, cap -> 1, hv)).contains("hv-frequencies").contains("0x40000003 EAX bit 11");
        // The resolver turns it into status 2 (UsageException).
        CpuResolver.Host pvm = new CpuResolver.Host(new CpuidEntries(new java.util.ArrayList<>()), true, cap -> 0, null);
        assertThatThrownBy(() -> CpuResolver.forHost(CpuSpec.parse("host,hv-relaxed"), pvm))
                .isInstanceOf(UsageException.class).hasMessageContaining("hv-relaxed").hasMessageContaining("KVM_CAP_HYPERV = 0");
    }
}
