package dev.vmm.cpu;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * QEMU 7.2's named x86 CPU models (the unversioned names, i.e. each model's v1), as data: vendor,
 * family/model/stepping, model-id, level/xlevel and the feature names. Each generation is written
 * as "the previous one plus/minus these features", the way the vendors document what a generation
 * adds (Intel: "new instructions in the 22 nm generation": FMA, AVX2, MOVBE, HLE/RTM, BMI1/2, ...;
 * AMD: Piledriver adds FMA3, F16C, TBM to Bulldozer). {@code QemuCpuModelTest} compares every model
 * here with the installed QEMU's {@code query-cpu-model-expansion}; docs/cpu-models.md has the details.
 *
 * <p>{@code host} and {@code max} are not in this table: they are the host's KVM CPUID ({@link CpuSpec#isHost}).
 */
public final class CpuModels {
    private CpuModels() {}

    private static final Map<String, CpuModel> MODELS = new LinkedHashMap<>();

    /** The names that are not a table entry: the host's CPUID, as KVM offers it. */
    public static final List<String> HOST_MODELS = CpuSpec.HOST_MODELS;

    private static Set<String> set(String features) {
        return new LinkedHashSet<>(Arrays.asList(features.trim().split("\\s+")));
    }

    private static Set<String> plus(String base, String add, String remove) {
        Set<String> s = new LinkedHashSet<>(get(base).features());
        if (!add.isBlank()) s.addAll(set(add));
        if (!remove.isBlank()) s.removeAll(set(remove));
        return s;
    }

    private static void add(String name, String vendor, int family, int model, int stepping, int level, int xlevel,
                            String modelId, Set<String> features) {
        // Every model runs under a hypervisor: QEMU sets CPUID.01H:ECX[31] in all of them.
        Set<String> f = new LinkedHashSet<>(features);
        f.add("hypervisor");
        MODELS.put(name, new CpuModel(name, vendor, family, model, stepping, modelId, level, xlevel, 0, f));
    }

    /** The Pentium Pro base every 64-bit model has (leaf 1 EDX). */
    private static final String PPRO = "fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2";

    static {
        String intel = CpuModel.INTEL, amd = CpuModel.AMD;
        add("qemu64", amd, 15, 107, 1, 0xd, 0x8000000a, "QEMU Virtual CPU version 2.5+",
                set(PPRO + " pni cx16 lm syscall nx lahf-lm svm"));
        add("kvm64", intel, 15, 6, 1, 0xd, 0x80000008, "Common KVM processor",
                set(PPRO + " pni cx16 lm syscall nx"));

        add("Opteron_G1", amd, 15, 6, 1, 5, 0x80000008, "AMD Opteron 240 (Gen 1 Class Opteron)",
                set(PPRO + " vme pni lm syscall nx"));
        add("Opteron_G2", amd, 15, 6, 1, 5, 0x80000008, "AMD Opteron 22xx (Gen 2 Class Opteron)",
                plus("Opteron_G1", "cx16 lahf-lm svm", ""));
        add("Opteron_G3", amd, 16, 2, 3, 5, 0x80000008, "AMD Opteron 23xx (Gen 3 Class Opteron)",
                plus("Opteron_G2", "monitor popcnt rdtscp abm sse4a misalignsse", ""));
        add("Opteron_G4", amd, 21, 1, 2, 0xd, 0x8000001a, "AMD Opteron 62xx class CPU",
                plus("Opteron_G3", "ssse3 sse4.1 sse4.2 aes pclmulqdq avx xsave pdpe1gb 3dnowprefetch xop fma4 npt nrip-save",
                        "monitor"));
        add("Opteron_G5", amd, 21, 2, 0, 0xd, 0x8000001a, "AMD Opteron 63xx class CPU",
                plus("Opteron_G4", "fma f16c tbm", ""));
        add("EPYC", amd, 23, 1, 2, 0xd, 0x8000001e, "AMD EPYC Processor",
                plus("Opteron_G5", "monitor movbe rdrand fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha-ni "
                        + "xsaveopt xsavec xgetbv1 mmxext fxsr-opt cr8legacy osvw topoext arat", "fma4 xop tbm"));
        add("EPYC-Rome", amd, 23, 49, 0, 0xd, 0x8000001e, "AMD EPYC-Rome Processor",
                plus("EPYC", "clwb umip rdpid xsaves perfctr-core clzero xsaveerptr wbnoinvd ibpb amd-stibp", ""));
        add("EPYC-Milan", amd, 25, 1, 1, 0xd, 0x8000001e, "AMD EPYC-Milan Processor",
                plus("EPYC-Rome", "pcid erms invpcid pku fsrm ibrs amd-ssbd svme-addr-chk", ""));

        add("Conroe", intel, 6, 15, 3, 10, 0x80000008, "Intel Celeron_4x0 (Conroe/Merom Class Core 2)",
                set(PPRO + " vme pni ssse3 lm syscall nx lahf-lm"));
        add("Penryn", intel, 6, 23, 3, 10, 0x80000008, "Intel Core 2 Duo P9xxx (Penryn Class Core 2)",
                plus("Conroe", "cx16 sse4.1", ""));
        add("Nehalem", intel, 6, 26, 3, 11, 0x80000008, "Intel Core i7 9xx (Nehalem Class Core i7)",
                plus("Penryn", "sse4.2 popcnt", ""));
        add("Westmere", intel, 6, 44, 1, 11, 0x80000008, "Westmere E56xx/L56xx/X56xx (Nehalem-C)",
                plus("Nehalem", "aes pclmulqdq arat", ""));
        add("SandyBridge", intel, 6, 42, 1, 0xd, 0x80000008, "Intel Xeon E312xx (Sandy Bridge)",
                plus("Westmere", "avx xsave xsaveopt x2apic tsc-deadline rdtscp", ""));
        add("IvyBridge", intel, 6, 58, 9, 0xd, 0x80000008, "Intel Xeon E3-12xx v2 (Ivy Bridge)",
                plus("SandyBridge", "f16c rdrand fsgsbase smep erms", ""));
        // The 22 nm generation's new instructions: FMA, AVX2, MOVBE, BMI1/2, LZCNT (abm), INVPCID, HLE/RTM.
        add("Haswell", intel, 6, 60, 4, 0xd, 0x80000008, "Intel Core Processor (Haswell)",
                plus("IvyBridge", "fma movbe pcid avx2 bmi1 bmi2 invpcid hle rtm abm", ""));
        add("Haswell-noTSX", intel, 6, 60, 1, 0xd, 0x80000008, "Intel Core Processor (Haswell, no TSX)",
                plus("Haswell", "", "hle rtm"));
        add("Broadwell", intel, 6, 61, 2, 0xd, 0x80000008, "Intel Core Processor (Broadwell)",
                plus("Haswell", "rdseed adx smap 3dnowprefetch", ""));
        add("Skylake-Client", intel, 6, 94, 3, 0xd, 0x80000008, "Intel Core Processor (Skylake)",
                plus("Broadwell", "xsavec xgetbv1", ""));
        add("Skylake-Server", intel, 6, 85, 4, 0xd, 0x80000008, "Intel Xeon Processor (Skylake)",
                plus("Skylake-Client", "pdpe1gb clflushopt clwb pku avx512f avx512dq avx512cd avx512bw avx512vl", ""));
        add("Cascadelake-Server", intel, 6, 85, 6, 0xd, 0x80000008, "Intel Xeon Processor (Cascadelake)",
                plus("Skylake-Server", "avx512vnni spec-ctrl ssbd", ""));
        add("Icelake-Server", intel, 6, 134, 0, 0xd, 0x80000008, "Intel Xeon Processor (Icelake)",
                plus("Cascadelake-Server", "avx512vbmi umip avx512vbmi2 gfni vaes vpclmulqdq avx512bitalg "
                        + "avx512-vpopcntdq la57 wbnoinvd", ""));
    }

    /** The model called {@code name} (exact, case-sensitive as in QEMU), or null. */
    public static CpuModel get(String name) {
        return MODELS.get(name);
    }

    public static List<CpuModel> all() {
        return List.copyOf(MODELS.values());
    }

    /** Every name {@code --cpu} accepts, host and max first. */
    public static List<String> names() {
        List<String> l = new ArrayList<>(HOST_MODELS);
        l.addAll(MODELS.keySet());
        return Collections.unmodifiableList(l);
    }
}
