package dev.vmm.cpu;

import dev.vmm.cli.UsageException;
import dev.vmm.ffm.kvm.CpuidEntries;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Filtering a model against synthetic KVM_GET_SUPPORTED_CPUID sets, and the PV flags on a PVM host. */
class CpuidFilterTest {
    /** A host that supports exactly what {@code model} defines, minus {@code lacking}. */
    private static CpuidEntries hostLike(String model, String... lacking) {
        CpuidEntries c = CpuidBuilder.build(CpuModels.get(model), CpuResolver.features(CpuModels.get(model), CpuSpec.parse(model))).entries().copy();
        for (String n : lacking) {
            CpuFeatures.Feature f = CpuFeatures.get(n);
            CpuidEntries.Entry e = CpuidBuilder.find(c, f.word());
            CpuidBuilder.setReg(e, f.word().reg, CpuidBuilder.reg(e, f.word().reg) & ~CpuFeatures.mask(f));
        }
        return c;
    }

    private static CpuResolver.Host host(CpuidEntries supported, boolean pvm) {
        return new CpuResolver.Host(supported, pvm, cap -> 0, null);
    }

    @Test
    void nothingDroppedOnAMatchingHost() {
        CpuidFilter.Result r = CpuidFilter.filter(CpuidBuilder.build(CpuModels.get("Haswell"), CpuModels.get("Haswell").features()).entries(),
                hostLike("Haswell"));
        assertThat(r.dropped()).isEmpty();
        assertThat(CpuidBuilder.features(r.leaves())).containsAll(CpuModels.get("Haswell").features());
    }

    @Test
    void droppedFeaturesAreClearedAndNamedAsQemuDoes() {
        CpuidEntries wanted = CpuidBuilder.build(CpuModels.get("Haswell"), CpuModels.get("Haswell").features()).entries();
        CpuidFilter.Result r = CpuidFilter.filter(wanted, hostLike("Haswell", "avx2", "hle", "movbe", "abm"));
        assertThat(r.warnings()).containsExactly(
                "host doesn't support requested feature: CPUID.01H:ECX.movbe [bit 22]",
                "host doesn't support requested feature: CPUID.07H:EBX.hle [bit 4]",
                "host doesn't support requested feature: CPUID.07H:EBX.avx2 [bit 5]",
                "host doesn't support requested feature: CPUID.80000001H:ECX.abm [bit 5]");
        assertThat(CpuidBuilder.features(r.leaves())).doesNotContain("avx2", "hle", "movbe", "abm").contains("rtm", "fma", "bmi2");
        assertThat(wanted.find(7, 0).ebx & (1 << 5)).as("the input is not modified").isNotZero();
    }

    @Test
    void aHostWithoutTheLeafDropsEverythingInIt() {
        CpuidEntries supported = hostLike("Penryn");          // level 10: no leaf 7 at all
        CpuidFilter.Result r = CpuidFilter.filter(CpuidBuilder.build(CpuModels.get("Broadwell"), CpuModels.get("Broadwell").features()).entries(), supported);
        assertThat(r.dropped()).extracting(CpuFeatures.Feature::name).contains("avx2", "smep", "adx", "avx", "xsave");
    }

    @Test
    void xsaveComponentsFollowTheHost() {
        CpuidEntries wanted = CpuidBuilder.build(CpuModels.get("Skylake-Server"), CpuModels.get("Skylake-Server").features()).entries();
        CpuidEntries supported = hostLike("Haswell"); // x87, SSE, AVX only; AVX area at its architectural place
        CpuidFilter.Result r = CpuidFilter.filter(wanted, supported);
        CpuidEntries.Entry d0 = r.leaves().find(0xd, 0);
        assertThat(d0.eax).as("XCR0: x87, SSE, AVX").isEqualTo(0b111);
        assertThat(d0.ecx).as("legacy area + header + 256 bytes of YMM_Hi128").isEqualTo(512 + 64 + 256);
        assertThat(r.leaves().entries()).noneMatch(e -> e.function == 0xd && e.index >= 5);
        assertThat(r.dropped()).extracting(CpuFeatures.Feature::name).contains("avx512f", "pku", "clwb");
    }

    @Test
    void enforceStopsWithTheList() {
        CpuResolver.Host h = host(hostLike("Haswell", "avx2", "rtm"), false);
        assertThatThrownBy(() -> CpuResolver.forHost(CpuSpec.parse("Haswell,enforce"), h)).isInstanceOf(UsageException.class)
                .hasMessage("--cpu Haswell,enforce: this host's KVM cannot provide CPUID.07H:EBX.avx2 [bit 5], CPUID.07H:EBX.rtm [bit 11]");
        CpuResolver.Resolved ok = CpuResolver.forHost(CpuSpec.parse("Haswell-noTSX,-avx2,enforce"), h);
        assertThat(ok.dropped()).isEmpty();
        CpuResolver.Resolved warn = CpuResolver.forHost(CpuSpec.parse("Haswell"), h);
        assertThat(warn.warnings()).hasSize(2);
        assertThat(CpuidBuilder.features(warn.cpuid())).doesNotContain("avx2", "rtm");
    }

    @Test
    void userFeaturesAreAddedAndRemoved() {
        CpuResolver.Resolved r = CpuResolver.forHost(CpuSpec.parse("Haswell-noTSX,+hle,-fma"), host(hostLike("Haswell"), false));
        assertThat(CpuidBuilder.features(r.cpuid())).contains("hle").doesNotContain("fma", "rtm");
    }

    @Test
    void namedModelsGetQemusKvmDefaultsAndTheirOwnCaches() {
        CpuidEntries supported = hostLike("Haswell");
        supported.entries().add(new CpuidEntries.Entry(4, 0, 1, 0x121, 0x1c0003f, 0x7f, 0)); // a host L1d of 64 KiB
        supported.entries().add(new CpuidEntries.Entry(0x40000001, 0, 0, 0x01007afb, 0, 0, 0));
        CpuResolver.Resolved r = CpuResolver.forHost(CpuSpec.parse("Haswell,kvm-pv-eoi=off"), host(supported, false));
        assertThat(CpuidBuilder.features(r.cpuid())).contains("kvmclock", "kvm-steal-time", "kvmclock-stable-bit", "kvm-asyncpf")
                .doesNotContain("kvm-pv-eoi", "kvm-pv-ipi", "kvm-pv-unhalt");
        assertThat(r.cpuid().find(4, 0).ecx + 1).as("the model's L1d (32 KiB, 8-way: 64 sets), not the host's").isEqualTo(64);
        assertThat(r.warnings()).isEmpty();
    }

    @Test
    void kvmAcceleratorDefaultsAsQemuAppliesThem() {
        // x2APIC always (the in-kernel LAPIC has it); no MONITOR, nested SVM or ACPI thermal control.
        assertThat(CpuidBuilder.features(CpuResolver.definition(CpuSpec.parse("Conroe")).cpuid())).contains("x2apic");
        assertThat(CpuidBuilder.features(CpuResolver.definition(CpuSpec.parse("qemu64")).cpuid())).doesNotContain("svm");
        assertThat(CpuidBuilder.features(CpuResolver.definition(CpuSpec.parse("EPYC")).cpuid())).doesNotContain("monitor");
        assertThat(CpuidBuilder.features(CpuResolver.definition(CpuSpec.parse("qemu64,+svm,+monitor")).cpuid())).contains("svm", "monitor");
        assertThat(CpuModels.get("qemu64").features()).as("the model itself keeps QEMU's definition").contains("svm");
    }

    /** The host's KVM leaf as this project's PVM host reports it (pv-unhalt, pv-ipi, sched-yield offered). */
    private static CpuidEntries pvmHost() {
        List<CpuidEntries.Entry> l = new ArrayList<>(hostLike("EPYC").entries());
        l.removeIf(e -> e.function == 0x40000001);
        l.add(new CpuidEntries.Entry(0x40000001, 0, 0, 0x01007afb, 0, 0, 0));
        return new CpuidEntries(l);
    }

    @Test
    void pvmHostHidesHypercallFeaturesThroughTheFlags() {
        CpuResolver.Resolved r = CpuResolver.forHost(CpuSpec.HOST, host(pvmHost(), true));
        assertThat(CpuidBuilder.features(r.cpuid())).doesNotContain("kvm-pv-unhalt", "kvm-pv-ipi", "kvm-pv-sched-yield")
                .contains("kvmclock", "kvm-pv-eoi", "kvm-steal-time");
        assertThat(r.warnings()).containsExactly(
                "PVM host: guest hypercalls do not work here; kvm-pv-unhalt, kvm-pv-ipi and kvm-pv-sched-yield are off");
        // The same host without PVM: today's leaves unchanged.
        CpuResolver.Resolved vtx = CpuResolver.forHost(CpuSpec.HOST, host(pvmHost(), false));
        assertThat(vtx.cpuid().find(0x40000001, 0).eax).isEqualTo(0x01007afb);
        assertThat(vtx.warnings()).isEmpty();
        // Asked for explicitly: on, with a warning.
        CpuResolver.Resolved asked = CpuResolver.forHost(CpuSpec.parse("host,+kvm-pv-ipi"), host(pvmHost(), true));
        assertThat(CpuidBuilder.features(asked.cpuid())).contains("kvm-pv-ipi").doesNotContain("kvm-pv-unhalt");
        assertThat(asked.warnings()).anyMatch(w -> w.contains("kvm-pv-ipi is on"));
        // Turned off on a VT-x host.
        CpuResolver.Resolved off = CpuResolver.forHost(CpuSpec.parse("host,kvm-pv-tlb-flush=off,-kvm-steal-time"), host(pvmHost(), false));
        assertThat(CpuidBuilder.features(off.cpuid())).doesNotContain("kvm-pv-tlb-flush", "kvm-steal-time").contains("kvm-pv-ipi");
    }

    @Test
    void hostFeatureTheHostLacksIsWarned() {
        CpuResolver.Resolved r = CpuResolver.forHost(CpuSpec.parse("host,+avx512f"), host(hostLike("Haswell"), false));
        assertThat(r.warnings()).containsExactly("host doesn't support requested feature: CPUID.07H:EBX.avx512f [bit 16]");
    }
}
