package dev.vmm.cpu;

import java.util.Set;

/**
 * One named CPU model: what CPUID says about the processor (vendor, family/model/stepping, brand
 * string, highest basic/extended/Centaur leaf) and which feature names it has. {@code level},
 * {@code xlevel} and {@code xlevel2} are minimums: as QEMU does, a feature in a higher leaf raises them
 * ({@link CpuidBuilder}).
 */
public record CpuModel(String name, String vendor, int family, int model, int stepping, String modelId,
                       int level, int xlevel, int xlevel2, Set<String> features) {
    public static final String INTEL = "GenuineIntel", AMD = "AuthenticAMD";

    public CpuModel {
        features = Set.copyOf(features);
        for (String f : features) {
            if (CpuFeatures.get(f) == null || !CpuFeatures.canonical(f).equals(f)) {
                throw new IllegalStateException(name + ": unknown feature " + f);
            }
        }
        if (vendor.length() != 12) throw new IllegalStateException(name + ": vendor must be 12 characters");
        if (modelId.length() > 48) throw new IllegalStateException(name + ": model-id longer than 48 characters");
    }

    public boolean isAmd() { return vendor.equals(AMD); }
}
