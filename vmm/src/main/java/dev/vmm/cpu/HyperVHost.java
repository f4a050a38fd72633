package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;

import java.util.function.IntUnaryOperator;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/**
 * Whether this host's KVM can provide the requested Hyper-V enlightenments: a pure function of
 * KVM_CHECK_EXTENSION answers and (when the host has it) KVM_GET_SUPPORTED_HV_CPUID. A PVM host has
 * KVM_CAP_HYPERV = 0, so every hv-* flag fails there with that reason.
 */
public final class HyperVHost {
    private HyperVHost() {}

    /** The capability KVM needs for {@code f} (beyond KVM_CAP_HYPERV), and its name. */
    static int capability(HyperV.Flag f) {
        return switch (f) {
            case VAPIC -> KVM_CAP_HYPERV_VAPIC;
            case SPINLOCKS -> KVM_CAP_HYPERV_SPIN;
            case TIME -> KVM_CAP_HYPERV_TIME;
            case SYNIC, STIMER -> KVM_CAP_HYPERV_SYNIC2;
            case VPINDEX -> KVM_CAP_HYPERV_VP_INDEX;
            case TLBFLUSH -> KVM_CAP_HYPERV_TLBFLUSH;
            case IPI -> KVM_CAP_HYPERV_SEND_IPI;
            case RUNTIME, RESET, FREQUENCIES, REENLIGHTENMENT, STIMER_DIRECT -> KVM_CAP_HYPERV_CPUID;
            case RELAXED -> KVM_CAP_HYPERV;
        };
    }

    static String capabilityName(int cap) {
        for (var e : dev.vmm.ffm.kvm.KvmIoctls.all().entrySet()) {
            if (e.getKey().startsWith("KVM_CAP_HYPERV") && e.getValue() == cap) return e.getKey();
        }
        return "capability " + cap;
    }

    /**
     * One line naming the first flag this host cannot provide and the missing capability, or null.
     *
     * @param supportedHv KVM_GET_SUPPORTED_HV_CPUID's leaves, or null when the host cannot tell
     */
    public static String error(HyperV.Config c, IntUnaryOperator checkExtension, CpuidEntries supportedHv) {
        if (!c.any()) return null;
        String first = c.passthrough() ? "hv-passthrough" : c.flags().iterator().next().qemuName;
        if (checkExtension.applyAsInt(KVM_CAP_HYPERV) <= 0) {
            return "--cpu " + first + ": this host's KVM has no Hyper-V emulation (KVM_CAP_HYPERV = 0)";
        }
        if (c.passthrough() && supportedHv == null) {
            return "--cpu hv-passthrough: this host's KVM cannot list its Hyper-V features (KVM_CAP_SYS_HYPERV_CPUID = 0)";
        }
        for (HyperV.Flag f : c.flags()) {
            int cap = capability(f);
            if (checkExtension.applyAsInt(cap) <= 0) {
                return "--cpu " + f.qemuName + ": this host's KVM cannot provide it (" + capabilityName(cap) + " = 0)";
            }
        }
        if (supportedHv != null) {
            // The bits KVM says it emulates, against the bits these flags put in the guest's leaves.
            for (HyperV.Flag f : c.flags()) {
                for (CpuidEntries.Entry want : HyperV.leaves(java.util.EnumSet.of(f), HyperV.SPINLOCKS_NEVER, 0)) {
                    if (want.function != HyperV.FEATURES_LEAF && want.function != HyperV.RECOMMENDATIONS_LEAF) continue;
                    CpuidEntries.Entry have = supportedHv.find(want.function, 0);
                    int[] w = {want.eax, want.function == HyperV.FEATURES_LEAF ? want.edx : 0};
                    int[] h = have == null ? new int[]{0, 0} : new int[]{have.eax, have.edx};
                    for (int r = 0; r < 2; r++) {
                        int missing = w[r] & ~h[r];
                        if (missing != 0) {
                            return String.format("--cpu %s: this host's KVM does not offer it (KVM_GET_SUPPORTED_HV_CPUID 0x%08X %s bit %d clear)",
                                    f.qemuName, want.function, r == 0 ? "EAX" : "EDX", Integer.numberOfTrailingZeros(missing));
                        }
                    }
                }
            }
        }
        return null;
    }
}
