package dev.vmm.cpu;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The named CPU feature bits, with QEMU's names for them (which are mostly Linux's
 * {@code /proc/cpuinfo} names). Bit positions are the architecture's: Intel SDM vol. 2A table 3-8
 * "Information Returned by CPUID", AMD APM vol. 3 appendix E, the Linux KVM documentation
 * ({@code Documentation/virt/kvm/x86/cpuid.rst}) for leaf 0x40000001, and VIA's PadLock guide for
 * 0xC0000001. {@code QemuCpuModelTest} checks every name and bit against the installed QEMU.
 */
public final class CpuFeatures {
    private CpuFeatures() {}

    /** One named bit. */
    public record Feature(String name, FeatureWord word, int bit) {
        public int mask() { return 1 << bit; }

        /** QEMU's description of the bit in its warnings: {@code CPUID.07H:EBX.avx2 [bit 5]}. */
        public String describe() {
            return word.location() + "." + name + " [bit " + bit + "]";
        }
    }

    private static final Map<String, Feature> BY_NAME = new LinkedHashMap<>();
    private static final Map<String, String> ALIASES = new LinkedHashMap<>();

    /**
     * Names bits 0, 1, 2... of {@code w} in order (null: a bit without a name); the bits after the
     * last name given have none, so a word with few named bits stops at its highest one.
     */
    private static void word(FeatureWord w, String... names) {
        if (names.length == 0 || names.length > 32) throw new IllegalStateException(w + ": " + names.length + " names");
        for (int bit = 0; bit < names.length; bit++) {
            String n = names[bit];
            // Two bits may share a name (kvmclock: both clocksource MSR ranges); the name sets both.
            if (n != null && !BY_NAME.containsKey(n)) BY_NAME.put(n, new Feature(n, w, bit));
        }
    }

    static {
        word(FeatureWord.L1_EDX,
                "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce",
                "cx8", "apic", null, "sep", "mtrr", "pge", "mca", "cmov",
                "pat", "pse36", "pn", "clflush", null, "ds", "acpi", "mmx",
                "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe");
        word(FeatureWord.L1_ECX,
                "pni", "pclmulqdq", "dtes64", "monitor", "ds-cpl", "vmx", "smx", "est",
                "tm2", "ssse3", "cid", null, "fma", "cx16", "xtpr", "pdcm",
                null, "pcid", "dca", "sse4.1", "sse4.2", "x2apic", "movbe", "popcnt",
                "tsc-deadline", "aes", "xsave", null, "avx", "f16c", "rdrand", "hypervisor");
        word(FeatureWord.L6_EAX, null, null, "arat");
        word(FeatureWord.L7_0_EBX,
                "fsgsbase", "tsc-adjust", "sgx", "bmi1", "hle", "avx2", null, "smep",
                "bmi2", "erms", "invpcid", "rtm", null, null, "mpx", null,
                "avx512f", "avx512dq", "rdseed", "adx", "smap", "avx512ifma", "pcommit", "clflushopt",
                "clwb", "intel-pt", "avx512pf", "avx512er", "avx512cd", "sha-ni", "avx512bw", "avx512vl");
        word(FeatureWord.L7_0_ECX,
                null, "avx512vbmi", "umip", "pku", null, "waitpkg", "avx512vbmi2", null,
                "gfni", "vaes", "vpclmulqdq", "avx512vnni", "avx512bitalg", null, "avx512-vpopcntdq", null,
                "la57", null, null, null, null, null, "rdpid", null,
                "bus-lock-detect", "cldemote", null, "movdiri", "movdir64b", null, "sgxlc", "pks");
        word(FeatureWord.L7_0_EDX,
                null, null, "avx512-4vnniw", "avx512-4fmaps", "fsrm", null, null, null,
                "avx512-vp2intersect", null, "md-clear", null, null, null, "serialize", null,
                "tsx-ldtrk", null, null, "arch-lbr", null, null, "amx-bf16", "avx512-fp16",
                "amx-tile", "amx-int8", "spec-ctrl", "stibp", null, "arch-capabilities", "core-capability", "ssbd");
        word(FeatureWord.L7_1_EAX, null, null, null, null, "avx-vnni", "avx512-bf16");
        word(FeatureWord.LD_1_EAX, "xsaveopt", "xsavec", "xgetbv1", "xsaves", "xfd");
        word(FeatureWord.L12_0_EAX, "sgx1", "sgx2");
        word(FeatureWord.L12_0_EBX, "sgx-exinfo");
        word(FeatureWord.L12_1_EAX, null, "sgx-debug", "sgx-mode64", null, "sgx-provisionkey", "sgx-tokenkey", null, "sgx-kss");
        word(FeatureWord.L14_0_ECX,
                null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, "intel-pt-lip");
        word(FeatureWord.KVM_EAX,
                "kvmclock", "kvm-nopiodelay", "kvm-mmu", "kvmclock", "kvm-asyncpf", "kvm-steal-time", "kvm-pv-eoi", "kvm-pv-unhalt",
                null, "kvm-pv-tlb-flush", null, "kvm-pv-ipi", "kvm-poll-control", "kvm-pv-sched-yield", "kvm-asyncpf-int", "kvm-msi-ext-dest-id",
                null, null, null, null, null, null, null, null,
                "kvmclock-stable-bit");
        word(FeatureWord.KVM_EDX, "kvm-hint-dedicated");
        // Bits 0-9, 12-17, 23 and 24 repeat leaf 1's EDX on AMD processors (AMD APM): not named here,
        // copied from leaf 1 when the vendor is AMD (see CpuidBuilder).
        word(FeatureWord.E1_EDX,
                null, null, null, null, null, null, null, null,
                null, null, null, "syscall", null, null, null, null,
                null, null, null, null, "nx", null, "mmxext", null,
                null, "fxsr-opt", "pdpe1gb", "rdtscp", null, "lm", "3dnowext", "3dnow");
        word(FeatureWord.E1_ECX,
                "lahf-lm", "cmp-legacy", "svm", "extapic", "cr8legacy", "abm", "sse4a", "misalignsse",
                "3dnowprefetch", "osvw", "ibs", "xop", "skinit", "wdt", null, "lwp",
                "fma4", "tce", null, "nodeid-msr", null, "tbm", "topoext", "perfctr-core",
                "perfctr-nb");
        word(FeatureWord.E7_EDX,
                null, null, null, null, null, null, null, null,
                "invtsc");
        word(FeatureWord.E8_EBX,
                "clzero", null, "xsaveerptr", null, null, null, null, null,
                null, "wbnoinvd", null, null, "ibpb", null, "ibrs", "amd-stibp",
                null, null, null, null, null, null, null, null,
                "amd-ssbd", "virt-ssbd", "amd-no-ssb");
        word(FeatureWord.EA_EDX,
                "npt", "lbrv", "svm-lock", "nrip-save", "tsc-scale", "vmcb-clean", "flushbyasid", "decodeassists",
                null, null, "pause-filter", null, "pfthreshold", "avic", null, "v-vmsave-vmload",
                "vgif", null, null, null, null, null, null, null,
                null, null, null, null, "svme-addr-chk");
        word(FeatureWord.C1_EDX,
                null, null, "xstore", "xstore-en", null, null, "xcrypt", "xcrypt-en",
                "ace2", "ace2-en", "phe", "phe-en", "pmm", "pmm-en");
        word(FeatureWord.MSR_ARCH_CAPABILITIES,
                "rdctl-no", "ibrs-all", "rsba", "skip-l1dfl-vmentry", "ssb-no", "mds-no", "pschange-mc-no", "tsx-ctrl",
                "taa-no");
        word(FeatureWord.MSR_CORE_CAPABILITY, null, null, null, null, null, "split-lock-detect");
        word(FeatureWord.MSR_PERF_CAPABILITIES,
                null, null, null, null, null, null, null, null,
                null, null, null, null, null, "full-width-write");

        // Other spellings QEMU accepts (older names, and '_' for '-').
        alias("sse4-1", "sse4.1"); alias("sse4_1", "sse4.1"); alias("sse4-2", "sse4.2"); alias("sse4_2", "sse4.2");
        alias("pclmuldq", "pclmulqdq"); alias("sse3", "pni"); alias("xd", "nx"); alias("i64", "lm"); alias("ffxsr", "fxsr-opt");
    }

    private static void alias(String alias, String name) {
        ALIASES.put(alias, name);
    }

    /** Every feature, one entry per name (for kvmclock, its bit 0), in table order. */
    public static List<Feature> all() {
        return List.copyOf(BY_NAME.values());
    }

    /** The canonical name for {@code name} (QEMU's alternative spellings and '_' for '-'), or null if unknown. */
    public static String canonical(String name) {
        if (BY_NAME.containsKey(name)) return name;
        String a = ALIASES.get(name);
        if (a != null) return a;
        String dashed = name.replace('_', '-');
        if (BY_NAME.containsKey(dashed)) return dashed;
        return ALIASES.get(dashed);
    }

    public static Feature get(String name) {
        String c = canonical(name);
        return c == null ? null : BY_NAME.get(c);
    }

    /** The mask of all bits named {@code name} in its word (two for kvmclock). */
    public static int mask(Feature f) {
        return f.name().equals("kvmclock") ? (1 | (1 << 3)) : f.mask();
    }

    /** Every accepted spelling, canonical names first (for suggestions). */
    public static List<String> allSpellings() {
        List<String> l = new ArrayList<>(BY_NAME.keySet());
        l.addAll(ALIASES.keySet());
        return Collections.unmodifiableList(l);
    }

    public static List<Feature> inWord(FeatureWord w) {
        List<Feature> l = new ArrayList<>();
        for (Feature f : BY_NAME.values()) if (f.word() == w) l.add(f);
        return l;
    }
}
