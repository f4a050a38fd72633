package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.KvmIoctls;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a model and its final feature set into CPUID leaves: the guest's view before any filtering
 * against the host and before the per-vCPU topology ({@code CpuTopology} fills APIC ids and counts).
 * Cache leaves (2, 4, 0x80000005/6, 0x8000001D) are QEMU's for the model ({@link CacheInfo}).
 */
public final class CpuidBuilder {
    private CpuidBuilder() {}

    /** KVM's signature leaf (Documentation/virt/kvm/x86/cpuid.rst). */
    public static final int KVM_SIGNATURE_LEAF = 0x40000000;
    /** "KVMKVMKVM\0\0\0" in EBX, ECX, EDX. */
    public static final int KVM_SIG_EBX = 0x4b4d564b, KVM_SIG_ECX = 0x564b4d56, KVM_SIG_EDX = 0x4d;
    /** Physical/linear address widths of leaf 0x80000008 EAX for named models (QEMU's default phys-bits 40). */
    public static final int PHYS_BITS = 40, VIRT_BITS = 48, VIRT_BITS_LA57 = 57;

    /** The result: leaves plus the effective highest basic, extended and Centaur leaves. */
    public record Leaves(CpuidEntries entries, int level, int xlevel, int xlevel2) {}

    /** Each CPUID feature word's value for {@code features}. */
    public static Map<FeatureWord, Integer> words(Set<String> features) {
        Map<FeatureWord, Integer> w = new EnumMap<>(FeatureWord.class);
        for (FeatureWord fw : FeatureWord.values()) w.put(fw, 0);
        for (String n : features) {
            CpuFeatures.Feature f = CpuFeatures.get(n);
            if (f == null) throw new IllegalArgumentException("unknown feature " + n);
            w.merge(f.word(), CpuFeatures.mask(f), (a, b) -> a | b);
        }
        return w;
    }

    /**
     * The effective highest basic leaf: the model's, raised to every leaf whose feature word has a bit
     * set (QEMU's "full-cpuid-auto-level", on for every current machine type).
     */
    public static int level(CpuModel m, Map<FeatureWord, Integer> w) {
        int level = m.level();
        for (FeatureWord fw : FeatureWord.values()) {
            if (fw.isCpuid() && w.get(fw) != 0 && Integer.compareUnsigned(fw.function, 0x40000000) < 0) {
                level = Math.max(level, fw.function);
            }
        }
        return level;
    }

    public static int xlevel(CpuModel m, Map<FeatureWord, Integer> w) {
        int x = m.xlevel();
        for (FeatureWord fw : FeatureWord.values()) {
            if (fw.isCpuid() && w.get(fw) != 0 && (fw.function & 0xf0000000) == 0x80000000) x = maxUnsigned(x, fw.function);
        }
        // An SVM-capable CPU reports its SVM features in 0x8000000A.
        if ((w.get(FeatureWord.E1_ECX) & CpuFeatures.get("svm").mask()) != 0) x = maxUnsigned(x, 0x8000000a);
        return x;
    }

    public static int xlevel2(CpuModel m, Map<FeatureWord, Integer> w) {
        return w.get(FeatureWord.C1_EDX) != 0 ? maxUnsigned(m.xlevel2(), 0xc0000001) : m.xlevel2();
    }

    private static int maxUnsigned(int a, int b) {
        return Integer.compareUnsigned(a, b) >= 0 ? a : b;
    }

    /** The processor signature of leaves 1 and 0x80000001 EAX (SDM: family/model/stepping encoding). */
    public static int signature(int family, int model, int stepping) {
        int sig = (stepping & 0xf) | ((model & 0xf) << 4) | ((model >> 4 & 0xf) << 16);
        if (family > 0xf) sig |= (0xf << 8) | ((family - 0xf) << 20);
        else sig |= family << 8;
        return sig;
    }

    /** Family, model and stepping decoded from a signature (SDM: extended fields count for families 6 and 15). */
    public static int[] decodeSignature(int sig) {
        int base = sig >> 8 & 0xf, family = base == 0xf ? base + (sig >> 20 & 0xff) : base;
        int model = sig >> 4 & 0xf;
        if (base == 0x6 || base == 0xf) model |= (sig >> 16 & 0xf) << 4;
        return new int[]{family, model, sig & 0xf};
    }

    /** The leaves for {@code m} with exactly {@code features} (already including the user's +/-). */
    public static Leaves build(CpuModel m, Set<String> features) {
        Map<FeatureWord, Integer> w = words(features);
        int level = level(m, w), xlevel = xlevel(m, w), xlevel2 = xlevel2(m, w);
        List<CpuidEntries.Entry> l = new ArrayList<>();
        int[] vendor = vendorRegs(m.vendor());
        int sig = signature(m.family(), m.model(), m.stepping());

        l.add(entry(0, 0, level, vendor[0], vendor[2], vendor[1]));
        // EBX[15:8]: CLFLUSH line size in 8-byte units (64 bytes); APIC id and counts are per vCPU.
        l.add(entry(1, 0, sig, 8 << 8, w.get(FeatureWord.L1_ECX), w.get(FeatureWord.L1_EDX)));
        // MONITOR/MWAIT leaf: ECX = MWAIT extensions and interrupt break-event (QEMU reports no line sizes).
        if (level >= 5) l.add(entry(5, 0, 0, 0, 0x3, 0));
        if (level >= 6) l.add(entry(6, 0, w.get(FeatureWord.L6_EAX), 0, 0, 0));
        if (level >= 7) {
            int max7 = w.get(FeatureWord.L7_1_EAX) != 0 ? 1 : 0;
            l.add(indexed(7, 0, max7, w.get(FeatureWord.L7_0_EBX), w.get(FeatureWord.L7_0_ECX), w.get(FeatureWord.L7_0_EDX)));
            if (max7 >= 1) l.add(indexed(7, 1, w.get(FeatureWord.L7_1_EAX), 0, 0, 0));
        }
        if (level >= 0xb) {
            // SMT and core levels (CpuTopology fills them per vCPU), then the invalid level 2.
            for (int sub = 0; sub <= 2; sub++) l.add(indexed(0xb, sub, 0, 0, 0, 0));
        }
        if (level >= 0xd) addXsave(l, features, w);
        if (level >= 0x12 && w.get(FeatureWord.L12_0_EAX) != 0) {
            l.add(indexed(0x12, 0, w.get(FeatureWord.L12_0_EAX), w.get(FeatureWord.L12_0_EBX), 0, 0));
            l.add(indexed(0x12, 1, w.get(FeatureWord.L12_1_EAX), 0, 0, 0));
        }
        if (level >= 0x14 && features.contains("intel-pt")) l.add(indexed(0x14, 0, 0, 0, w.get(FeatureWord.L14_0_ECX), 0));

        l.add(entry(KVM_SIGNATURE_LEAF, 0, 0x40000001, KVM_SIG_EBX, KVM_SIG_ECX, KVM_SIG_EDX));
        l.add(entry(0x40000001, 0, w.get(FeatureWord.KVM_EAX), 0, 0, w.get(FeatureWord.KVM_EDX)));

        l.add(entry(0x80000000, 0, xlevel, vendor[0], vendor[2], vendor[1]));
        int e1edx = w.get(FeatureWord.E1_EDX);
        // AMD processors repeat most of leaf 1's EDX in 0x80000001 EDX (AMD APM vol. 3, CPUID Fn8000_0001_EDX).
        if (m.isAmd()) e1edx |= w.get(FeatureWord.L1_EDX) & AMD_ALIASES;
        l.add(entry(0x80000001, 0, sig, 0, w.get(FeatureWord.E1_ECX), e1edx));
        if (Integer.compareUnsigned(xlevel, 0x80000004) >= 0) {
            int[] id = modelIdRegs(m.modelId());
            for (int i = 0; i < 3; i++) l.add(entry(0x80000002 + i, 0, id[4 * i], id[4 * i + 1], id[4 * i + 2], id[4 * i + 3]));
        }
        if (Integer.compareUnsigned(xlevel, 0x80000007) >= 0) l.add(entry(0x80000007, 0, 0, 0, 0, w.get(FeatureWord.E7_EDX)));
        if (Integer.compareUnsigned(xlevel, 0x80000008) >= 0) {
            int virt = features.contains("la57") ? VIRT_BITS_LA57 : VIRT_BITS;
            l.add(entry(0x80000008, 0, PHYS_BITS | (virt << 8), w.get(FeatureWord.E8_EBX), 0, 0));
        }
        if (Integer.compareUnsigned(xlevel, 0x8000000a) >= 0 && features.contains("svm")) {
            // EAX: SVM revision 1; EBX: 16 address space ids.
            l.add(entry(0x8000000a, 0, 1, 0x10, 0, w.get(FeatureWord.EA_EDX)));
        }
        CacheInfo.addLeaves(l, m, features, level, xlevel);
        if (xlevel2 != 0) {
            l.add(entry(0xc0000000, 0, xlevel2, 0, 0, 0));
            l.add(entry(0xc0000001, 0, 0, 0, 0, w.get(FeatureWord.C1_EDX)));
        }
        return new Leaves(new CpuidEntries(l), level, xlevel, xlevel2);
    }

    /** fpu..pge, mca..pat/pse36, mmx, fxsr: the leaf-1 EDX bits AMD repeats in 0x80000001 EDX. */
    public static final int AMD_ALIASES = 0x0183f3ff;

    private static void addXsave(List<CpuidEntries.Entry> l, Set<String> features, Map<FeatureWord, Integer> w) {
        long xcr0 = XsaveComponents.xcr0(features);
        if (xcr0 == 0) return;
        int size = XsaveComponents.size(xcr0);
        l.add(indexed(0xd, 0, (int) xcr0, size, size, (int) (xcr0 >>> 32)));
        // EBX of subleaf 1: the size for XCR0 | IA32_XSS (no supervisor components here); KVM keeps it current.
        l.add(indexed(0xd, 1, w.get(FeatureWord.LD_1_EAX), size, 0, 0));
        for (XsaveComponents.Component c : XsaveComponents.in(xcr0)) {
            l.add(indexed(0xd, c.index(), c.size(), c.offset(), c.aligned() ? 2 : 0, 0));
        }
    }

    static CpuidEntries.Entry entry(int function, int index, int eax, int ebx, int ecx, int edx) {
        return new CpuidEntries.Entry(function, index, 0, eax, ebx, ecx, edx);
    }

    static CpuidEntries.Entry indexed(int function, int index, int eax, int ebx, int ecx, int edx) {
        return new CpuidEntries.Entry(function, index, KvmIoctls.KVM_CPUID_FLAG_SIGNIFCANT_INDEX, eax, ebx, ecx, edx);
    }

    /** The 12-character vendor string as EBX, EDX, ECX (the order leaf 0 returns it in). */
    static int[] vendorRegs(String vendor) {
        byte[] b = vendor.getBytes(StandardCharsets.US_ASCII);
        return new int[]{le(b, 0), le(b, 4), le(b, 8)};
    }

    /** The brand string, NUL-padded to 48 bytes, as 12 registers (EAX..EDX of 0x80000002..4). */
    static int[] modelIdRegs(String modelId) {
        byte[] b = new byte[48];
        byte[] s = modelId.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(s, 0, b, 0, Math.min(s.length, 48));
        int[] r = new int[12];
        for (int i = 0; i < 12; i++) r[i] = le(b, 4 * i);
        return r;
    }

    private static int le(byte[] b, int o) {
        return (b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16 | (b[o + 3] & 0xff) << 24;
    }

    /** The brand string read back from leaves 0x80000002..4 (for tests and {@code vmm cpuid}). */
    public static String modelId(CpuidEntries c) {
        StringBuilder sb = new StringBuilder();
        for (int f = 0x80000002; f <= 0x80000004; f++) {
            CpuidEntries.Entry e = c.find(f, 0);
            if (e == null) return "";
            for (int r : new int[]{e.eax, e.ebx, e.ecx, e.edx}) {
                for (int i = 0; i < 4; i++) {
                    char ch = (char) (r >>> (8 * i) & 0xff);
                    if (ch != 0) sb.append(ch);
                }
            }
        }
        return sb.toString();
    }

    /** The feature names whose bits are set in {@code c} (KVM leaf included; MSR words are not in CPUID). */
    public static Set<String> features(CpuidEntries c) {
        Set<String> s = new LinkedHashSet<>();
        for (CpuFeatures.Feature f : CpuFeatures.all()) {
            if (!f.word().isCpuid()) continue;
            CpuidEntries.Entry e = find(c, f.word());
            if (e != null && (reg(e, f.word().reg) & f.mask()) != 0) s.add(f.name());
        }
        return s;
    }

    /** The entry holding {@code w}, or null. */
    public static CpuidEntries.Entry find(CpuidEntries c, FeatureWord w) {
        for (CpuidEntries.Entry e : c.entries()) {
            if (e.function == w.function && (e.index == w.index || !w.indexed())) return e;
        }
        return null;
    }

    public static int reg(CpuidEntries.Entry e, FeatureWord.Reg r) {
        return switch (r) { case EAX -> e.eax; case EBX -> e.ebx; case ECX -> e.ecx; case EDX -> e.edx; };
    }

    public static void setReg(CpuidEntries.Entry e, FeatureWord.Reg r, int v) {
        switch (r) { case EAX -> e.eax = v; case EBX -> e.ebx = v; case ECX -> e.ecx = v; case EDX -> e.edx = v; }
    }
}
