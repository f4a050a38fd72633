package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Hyper-V enlightenments with QEMU's {@code hv-*} names: the CPUID leaves 0x40000000-0x4000000A a
 * Windows (or Linux) guest reads to find the hypervisor's synthetic MSRs and recommendations, per
 * Microsoft's Hypervisor Top-Level Functional Specification (TLFS) "Feature Discovery" (the
 * HV_PARTITION_PRIVILEGE_MASK in 0x40000003 EAX/EBX, the feature flags in 0x40000003 EDX, the
 * implementation recommendations in 0x40000004). KVM's own leaves move to 0x40000100, where
 * Linux and KVM also look for them.
 */
public final class HyperV {
    private HyperV() {}

    public static final int VENDOR_LEAF = 0x40000000, INTERFACE_LEAF = 0x40000001, VERSION_LEAF = 0x40000002,
            FEATURES_LEAF = 0x40000003, RECOMMENDATIONS_LEAF = 0x40000004, LIMITS_LEAF = 0x40000005,
            HARDWARE_FEATURES_LEAF = 0x40000006, NESTED_FEATURES_LEAF = 0x4000000a;
    /** Where KVM's signature and feature leaves go when the Hyper-V ones take 0x40000000. */
    public static final int KVM_LEAVES_WITH_HYPERV = 0x40000100;
    /** "Hv#1": the interface signature of 0x40000001 EAX. */
    public static final int HV1 = 0x31237648;
    /** 0x40000004 EBX: "never notify" spinlock retry count, QEMU's default. */
    public static final long SPINLOCKS_NEVER = 0xffffffffL;
    /** QEMU refuses smaller retry counts (Windows treats small values as a tight spin). */
    public static final long SPINLOCKS_MIN = 0xfff;

    // TLFS HV_PARTITION_PRIVILEGE_MASK, low half (0x40000003 EAX): access to synthetic MSRs.
    public static final int ACCESS_VP_RUNTIME = 1, ACCESS_PARTITION_REFERENCE_COUNTER = 1 << 1, ACCESS_SYNIC = 1 << 2,
            ACCESS_SYNTHETIC_TIMERS = 1 << 3, ACCESS_INTR_CTRL = 1 << 4, ACCESS_HYPERCALL_MSRS = 1 << 5,
            ACCESS_VP_INDEX = 1 << 6, ACCESS_RESET = 1 << 7, ACCESS_PARTITION_REFERENCE_TSC = 1 << 9,
            ACCESS_FREQUENCY_MSRS = 1 << 11, ACCESS_REENLIGHTENMENT = 1 << 13;
    // TLFS 0x40000003 EDX feature flags.
    public static final int FEATURE_FREQUENCY_MSRS_AVAILABLE = 1 << 8, FEATURE_DIRECT_SYNTHETIC_TIMERS = 1 << 19;
    // TLFS 0x40000004 EAX implementation recommendations.
    public static final int RECOMMEND_REMOTE_TLB_FLUSH = 1 << 2, RECOMMEND_APIC_MSRS = 1 << 3, RECOMMEND_RELAXED_TIMING = 1 << 5,
            RECOMMEND_CLUSTER_IPI = 1 << 10, RECOMMEND_EX_PROCESSOR_MASKS = 1 << 11;

    /** An enlightenment, its QEMU name, what it needs first, and its KVM capability. */
    public enum Flag {
        RELAXED("hv-relaxed", "relaxed timing"),
        VAPIC("hv-vapic", "virtual APIC"),
        SPINLOCKS("hv-spinlocks", "spinlocks"),
        VPINDEX("hv-vpindex", "VP_INDEX"),
        RUNTIME("hv-runtime", "VP_RUNTIME"),
        TIME("hv-time", "clocksources"),
        SYNIC("hv-synic", "SynIC", VPINDEX),
        STIMER("hv-stimer", "synthetic timers", SYNIC, TIME),
        STIMER_DIRECT("hv-stimer-direct", "direct mode synthetic timers", STIMER),
        RESET("hv-reset", "reset"),
        FREQUENCIES("hv-frequencies", "frequency MSRs"),
        REENLIGHTENMENT("hv-reenlightenment", "reenlightenment MSRs"),
        TLBFLUSH("hv-tlbflush", "paravirtualized TLB flush", VPINDEX),
        IPI("hv-ipi", "paravirtualized IPI", VPINDEX);

        public final String qemuName, description;
        private final Flag[] needs;

        Flag(String qemuName, String description, Flag... needs) {
            this.qemuName = qemuName; this.description = description; this.needs = needs;
        }

        public List<Flag> needs() { return List.of(needs); }

        public static Flag byName(String name) {
            for (Flag f : values()) if (f.qemuName.equals(name)) return f;
            return null;
        }

        /** Whether QEMU has {@code name} on by default (none of the hv-* properties is). */
        public static boolean defaultOn(String name) {
            return false;
        }
    }

    /** Every {@code hv-*} name {@code --cpu} accepts (the flags, and hv-passthrough). */
    public static List<String> names() {
        List<String> l = new ArrayList<>();
        for (Flag f : Flag.values()) l.add(f.qemuName);
        l.add("hv-passthrough");
        return l;
    }

    /** What the user asked for: flags, the spinlock retry count (when hv-spinlocks is given), passthrough. */
    public record Config(Set<Flag> flags, long spinlocks, boolean passthrough) {
        public static final Config NONE = new Config(EnumSet.noneOf(Flag.class), SPINLOCKS_NEVER, false);

        public Config {
            flags = flags.isEmpty() ? EnumSet.noneOf(Flag.class) : EnumSet.copyOf(flags);
        }

        public boolean any() { return !flags.isEmpty() || passthrough; }
    }

    /**
     * QEMU's dependency rules: one line for the first flag that lacks what it needs, naming both
     * ({@code hv-synic needs hv-vpindex (Hyper-V SynIC requires VP_INDEX)}), or null.
     */
    public static String dependencyError(Set<Flag> flags) {
        for (Flag f : Flag.values()) {
            if (!flags.contains(f)) continue;
            for (Flag n : f.needs) {
                if (!flags.contains(n)) {
                    return f.qemuName + " needs " + n.qemuName + " (Hyper-V " + f.description + " requires " + n.description + ")";
                }
            }
        }
        return null;
    }

    /** Version leaf defaults (QEMU's hv-version-id-*: Windows Server 2016, build 14393). */
    public static final int VERSION_BUILD = 14393, VERSION_MAJOR = 10, VERSION_MINOR = 0;

    /**
     * The Hyper-V leaves for {@code flags} (dependencies already checked), with {@code maxVps} in the
     * implementation limits.
     */
    public static List<CpuidEntries.Entry> leaves(Set<Flag> flags, long spinlocks, int maxVps) {
        int privileges = ACCESS_HYPERCALL_MSRS, features = 0, recommendations = 0;
        for (Flag f : flags) {
            switch (f) {
                case RELAXED -> recommendations |= RECOMMEND_RELAXED_TIMING;
                case VAPIC -> { privileges |= ACCESS_INTR_CTRL; recommendations |= RECOMMEND_APIC_MSRS; }
                case SPINLOCKS -> { }
                case VPINDEX -> privileges |= ACCESS_VP_INDEX;
                case RUNTIME -> privileges |= ACCESS_VP_RUNTIME;
                case TIME -> privileges |= ACCESS_PARTITION_REFERENCE_COUNTER | ACCESS_PARTITION_REFERENCE_TSC;
                case SYNIC -> privileges |= ACCESS_SYNIC;
                case STIMER -> privileges |= ACCESS_SYNTHETIC_TIMERS;
                case STIMER_DIRECT -> features |= FEATURE_DIRECT_SYNTHETIC_TIMERS;
                case RESET -> privileges |= ACCESS_RESET;
                case FREQUENCIES -> { privileges |= ACCESS_FREQUENCY_MSRS; features |= FEATURE_FREQUENCY_MSRS_AVAILABLE; }
                case REENLIGHTENMENT -> privileges |= ACCESS_REENLIGHTENMENT;
                case TLBFLUSH -> recommendations |= RECOMMEND_REMOTE_TLB_FLUSH | RECOMMEND_EX_PROCESSOR_MASKS;
                case IPI -> recommendations |= RECOMMEND_CLUSTER_IPI | RECOMMEND_EX_PROCESSOR_MASKS;
            }
        }
        int retries = flags.contains(Flag.SPINLOCKS) ? (int) spinlocks : (int) SPINLOCKS_NEVER;
        List<CpuidEntries.Entry> l = new ArrayList<>();
        // "Microsoft Hv" in EBX, ECX, EDX.
        l.add(CpuidBuilder.entry(VENDOR_LEAF, 0, NESTED_FEATURES_LEAF, 0x7263694d, 0x666f736f, 0x76482074));
        l.add(CpuidBuilder.entry(INTERFACE_LEAF, 0, HV1, 0, 0, 0));
        l.add(CpuidBuilder.entry(VERSION_LEAF, 0, VERSION_BUILD, VERSION_MAJOR << 16 | VERSION_MINOR, 0, 0));
        l.add(CpuidBuilder.entry(FEATURES_LEAF, 0, privileges, 0, 0, features));
        l.add(CpuidBuilder.entry(RECOMMENDATIONS_LEAF, 0, recommendations, retries, 0, 0));
        l.add(CpuidBuilder.entry(LIMITS_LEAF, 0, maxVps, 0, 0, 0));
        for (int leaf = HARDWARE_FEATURES_LEAF; leaf <= NESTED_FEATURES_LEAF; leaf++) l.add(CpuidBuilder.entry(leaf, 0, 0, 0, 0, 0));
        return l;
    }

    /**
     * Puts Hyper-V's leaves at 0x40000000 and moves KVM's two leaves to 0x40000100/0x40000101
     * (the signature's EAX then names 0x40000101 as KVM's highest leaf).
     */
    public static void install(CpuidEntries c, List<CpuidEntries.Entry> hv) {
        for (CpuidEntries.Entry e : c.entries()) {
            if (e.function == CpuidBuilder.KVM_SIGNATURE_LEAF) {
                e.function = KVM_LEAVES_WITH_HYPERV;
                e.eax = KVM_LEAVES_WITH_HYPERV + 1;
            } else if (e.function == CpuidBuilder.KVM_SIGNATURE_LEAF + 1) {
                e.function = KVM_LEAVES_WITH_HYPERV + 1;
            }
        }
        c.entries().removeIf(e -> e.function >= VENDOR_LEAF && e.function <= NESTED_FEATURES_LEAF);
        c.entries().addAll(hv);
    }
}
