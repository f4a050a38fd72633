package dev.vmm.cpu;

import dev.vmm.cli.UsageException;
import dev.vmm.ffm.kvm.CpuidEntries;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntUnaryOperator;

/**
 * From a {@link CpuSpec} to the CPUID template every vCPU starts from (before {@code CpuTopology}
 * fills in its APIC id): the model's leaves, the user's +/- features, the KVM PV flags, Hyper-V, all
 * filtered against what this host's KVM supports. Pure: the host is passed in as data.
 */
public final class CpuResolver {
    private CpuResolver() {}

    /** QEMU's KVM defaults for named models (its kvm_default_props): the PV features on unless turned off. */
    public static final List<String> KVM_DEFAULT_FLAGS = List.of("kvmclock", "kvm-nopiodelay", "kvm-asyncpf", "kvm-asyncpf-int",
            "kvm-steal-time", "kvm-pv-eoi", "kvmclock-stable-bit");
    /** PV features the guest uses through hypercalls, which do not work on a PVM host. */
    public static final List<String> NEEDS_HYPERCALLS = List.of("kvm-pv-unhalt", "kvm-pv-ipi", "kvm-pv-sched-yield");

    /** What the host offers, as data. */
    public record Host(CpuidEntries supported, boolean pvm, IntUnaryOperator checkExtension, CpuidEntries supportedHv) {}

    /** The result: the CPUID template, warnings (one line each), and what the vCPUs must enable. */
    public record Resolved(CpuidEntries cpuid, List<String> warnings, List<CpuFeatures.Feature> dropped, HyperV.Config hyperV) {
        /** Whether each vCPU needs KVM_CAP_HYPERV_SYNIC2 enabled. */
        public boolean needsSynic() {
            if (!hyperV.any()) return false;
            CpuidEntries.Entry f = cpuid.find(HyperV.FEATURES_LEAF, 0);
            return f != null && (f.eax & HyperV.ACCESS_SYNIC) != 0; // hv-synic, or hv-passthrough of a host with SynIC
        }
    }

    /**
     * What QEMU changes in every named model when KVM is the accelerator (its kvm_default_props):
     * the in-kernel LAPIC always offers x2APIC; MONITOR/MWAIT, nested SVM and ACPI thermal control
     * are not offered.
     */
    public static final List<String> KVM_ACCEL_ON = List.of("x2apic"), KVM_ACCEL_OFF = List.of("monitor", "svm", "acpi");

    /** A named model's features with the KVM defaults and the user's settings applied. */
    static Set<String> features(CpuModel m, CpuSpec spec) {
        Set<String> f = new LinkedHashSet<>(m.features());
        f.addAll(KVM_DEFAULT_FLAGS);
        f.addAll(KVM_ACCEL_ON);
        KVM_ACCEL_OFF.forEach(f::remove);
        for (Map.Entry<String, Boolean> e : spec.features().entrySet()) {
            if (e.getValue()) f.add(e.getKey()); else f.remove(e.getKey());
        }
        return f;
    }

    /** The model's own definition, no host involved ({@code vmm cpuid} without /dev/kvm). */
    public static Resolved definition(CpuSpec spec) {
        if (spec.isHost()) {
            throw new dev.vmm.ffm.kvm.KvmUnavailableException("--cpu " + spec.model() + " is the host's CPUID, which needs /dev/kvm", null);
        }
        if (spec.hyperV().passthrough()) {
            throw new dev.vmm.ffm.kvm.KvmUnavailableException("--cpu hv-passthrough takes the host's Hyper-V features, which needs /dev/kvm", null);
        }
        CpuModel m = CpuModels.get(spec.model());
        CpuidEntries c = CpuidBuilder.build(m, features(m, spec)).entries();
        if (spec.hyperV().any()) HyperV.install(c, HyperV.leaves(spec.hyperV().flags(), spec.hyperV().spinlocks(), maxVps()));
        return new Resolved(c, List.of(), List.of(), spec.hyperV());
    }

    private static int maxVps() {
        return dev.vmm.machine.MachineConfig.MAX_CPUS;
    }

    /** The template for this host; {@link UsageException} (status 2) for enforce failures and missing Hyper-V support. */
    public static Resolved forHost(CpuSpec spec, Host host) {
        String hvError = HyperVHost.error(spec.hyperV(), host.checkExtension(), host.supportedHv());
        if (hvError != null) throw new UsageException(hvError);
        List<String> warnings = new ArrayList<>();
        CpuidEntries wanted;
        Set<String> explicitOn = new LinkedHashSet<>();
        for (Map.Entry<String, Boolean> e : spec.features().entrySet()) if (e.getValue()) explicitOn.add(e.getKey());
        List<CpuFeatures.Feature> missingLeaves = new ArrayList<>();
        if (spec.isHost()) {
            wanted = host.supported().copy();
            Set<String> settings = new LinkedHashSet<>();
            if (host.pvm()) for (String n : NEEDS_HYPERCALLS) if (!explicitOn.contains(n)) settings.add("-" + n);
            for (Map.Entry<String, Boolean> e : spec.features().entrySet()) settings.add((e.getValue() ? "+" : "-") + e.getKey());
            for (String s : settings) {
                CpuFeatures.Feature f = CpuFeatures.get(s.substring(1));
                if (!f.word().isCpuid()) continue;
                CpuidEntries.Entry e = CpuidBuilder.find(wanted, f.word());
                if (e == null) {
                    if (s.startsWith("+")) missingLeaves.add(f);
                    continue;
                }
                int v = CpuidBuilder.reg(e, f.word().reg);
                CpuidBuilder.setReg(e, f.word().reg, s.startsWith("+") ? v | CpuFeatures.mask(f) : v & ~CpuFeatures.mask(f));
            }
        } else {
            CpuModel m = CpuModels.get(spec.model());
            wanted = CpuidBuilder.build(m, features(m, spec)).entries();
        }
        if (host.pvm()) {
            CpuidEntries.Entry kvm = host.supported().find(0x40000001, 0);
            boolean hidden = false;
            for (String n : NEEDS_HYPERCALLS) {
                CpuFeatures.Feature f = CpuFeatures.get(n);
                if (explicitOn.contains(n)) {
                    warnings.add("PVM host: guest hypercalls do not work here, yet " + n + " is on (--cpu): the guest may hang");
                } else if (spec.isHost() && kvm != null && (kvm.eax & f.mask()) != 0) {
                    hidden = true;
                }
            }
            if (hidden) warnings.add("PVM host: guest hypercalls do not work here; kvm-pv-unhalt, kvm-pv-ipi and kvm-pv-sched-yield are off");
        }
        CpuidFilter.Result r = CpuidFilter.filter(wanted, spec.isHost() ? host.supported() : withCapabilityFeatures(host));
        List<CpuFeatures.Feature> dropped = new ArrayList<>(missingLeaves);
        // Defaults the host lacks (an old KVM without kvm-asyncpf-int) go quietly, as in QEMU.
        for (CpuFeatures.Feature f : r.dropped()) {
            if (!spec.isHost() && KVM_DEFAULT_FLAGS.contains(f.name()) && !explicitOn.contains(f.name())) continue;
            dropped.add(f);
        }
        for (CpuFeatures.Feature f : dropped) warnings.add("host doesn't support requested feature: " + f.describe());
        if (spec.enforce() && !dropped.isEmpty()) {
            throw new UsageException("--cpu " + spec.model() + ",enforce: this host's KVM cannot provide "
                    + String.join(", ", dropped.stream().map(CpuFeatures.Feature::describe).toList()));
        }
        CpuidEntries c = r.leaves();
        if (spec.hyperV().any()) {
            List<CpuidEntries.Entry> hv = spec.hyperV().passthrough()
                    ? passthrough(host.supportedHv())
                    : HyperV.leaves(spec.hyperV().flags(), spec.hyperV().spinlocks(), maxVps());
            HyperV.install(c, hv);
        }
        return new Resolved(c, List.copyOf(warnings), List.copyOf(dropped), spec.hyperV());
    }

    /**
     * KVM_GET_SUPPORTED_CPUID plus what KVM offers through a capability instead: the in-kernel LAPIC's
     * TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER), as QEMU adds it. ({@code host} keeps today's
     * leaves exactly as KVM reports them.)
     */
    static CpuidEntries withCapabilityFeatures(Host host) {
        CpuidEntries s = host.supported().copy();
        CpuidEntries.Entry l1 = s.find(1, 0);
        if (l1 != null && host.checkExtension().applyAsInt(dev.vmm.ffm.kvm.KvmIoctls.KVM_CAP_TSC_DEADLINE_TIMER) > 0) {
            l1.ecx |= CpuFeatures.get("tsc-deadline").mask();
        }
        return s;
    }

    private static List<CpuidEntries.Entry> passthrough(CpuidEntries supportedHv) {
        List<CpuidEntries.Entry> l = new ArrayList<>();
        for (CpuidEntries.Entry e : supportedHv.entries()) {
            if (e.function >= HyperV.VENDOR_LEAF && e.function <= HyperV.NESTED_FEATURES_LEAF) l.add(e.copy());
        }
        return l;
    }

}
