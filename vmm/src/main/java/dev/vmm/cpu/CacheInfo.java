package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;

import java.util.List;

/**
 * The caches a named model reports, and their CPUID encodings: deterministic cache parameters
 * (Intel leaf 4, AMD 0x8000001D; SDM vol. 2A and APM vol. 3 share the layout), the leaf-2 descriptor
 * bytes (SDM table 3-12), and AMD's L1/L2/L3 leaves 0x80000005/0x80000006 (APM). The values are
 * QEMU 7.2's: its "legacy" caches for every model without cache data of its own, and the EPYC
 * family's own; they were reconciled with what a guest reads under QEMU (the guest kit's cpuid guest).
 */
public final class CacheInfo {
    private CacheInfo() {}

    public static final int DATA = 1, INSTRUCTION = 2, UNIFIED = 3, LINE = 64;

    /** One cache: level, type, size, associativity and the leaf-4 EDX/EAX flags. */
    public record Cache(int level, int type, int kib, int ways, boolean selfInit, boolean noInvdSharing,
                        boolean inclusive, boolean complexIndexing) {
        int sets() { return kib * 1024 / (LINE * ways); }
    }

    /** A model's caches: the four of leaf 4/0x8000001D, the AMD-leaf views, and the leaf-2 descriptors. */
    public record Caches(List<Cache> deterministic, Cache amdL1d, Cache amdL1i, Cache amdL2, Cache amdL3,
                         int[] leaf2Descriptors) {}

    private static Cache c(int level, int type, int kib, int ways, boolean selfInit, boolean noInvd, boolean incl, boolean complex) {
        return new Cache(level, type, kib, ways, selfInit, noInvd, incl, complex);
    }

    /** QEMU's legacy caches: L1d/L1i 32 KiB 8-way, L2 4 MiB 16-way, L3 16 MiB 16-way (AMD leaves: 64 KiB 2-way L1, 512 KiB L2). */
    public static final Caches LEGACY = new Caches(List.of(
            c(1, DATA, 32, 8, true, true, false, false),
            c(1, INSTRUCTION, 32, 8, true, true, false, false),
            c(2, UNIFIED, 4096, 16, true, true, false, false),
            c(3, UNIFIED, 16384, 16, true, false, true, true)),
            c(1, DATA, 64, 2, true, true, false, false), c(1, INSTRUCTION, 64, 2, true, true, false, false),
            c(2, UNIFIED, 512, 16, false, false, false, false), c(3, UNIFIED, 16384, 16, true, false, true, true),
            // Leaf 2: L1d 0x2C (32 KiB 8-way), L1i 0x30 (32 KiB 8-way), L2 0x7D (2 MiB 8-way), L3 0x4D (16 MiB 16-way).
            new int[]{0x2c, 0x30, 0x7d, 0x4d});

    private static Caches epyc(int l1iKib, int l1iWays, int l3Kib) {
        Cache l1d = c(1, DATA, 32, 8, true, true, false, false), l1i = c(1, INSTRUCTION, l1iKib, l1iWays, true, true, false, false),
                l2 = c(2, UNIFIED, 512, 8, false, false, false, false), l3 = c(3, UNIFIED, l3Kib, 16, true, false, true, true);
        return new Caches(List.of(l1d, l1i, l2, l3), l1d, l1i, l2, l3, null);
    }

    /** The caches of model {@code name}. */
    public static Caches of(String name) {
        return switch (name) {
            case "EPYC" -> epyc(64, 4, 8192);
            case "EPYC-Rome" -> epyc(32, 8, 16384);
            case "EPYC-Milan" -> epyc(32, 8, 32768);
            default -> LEGACY;
        };
    }

    /** Leaf 4 / 0x8000001D EAX, EBX, ECX, EDX for one cache (sharing fields 0: {@code CpuTopology} sets cores). */
    static int[] deterministic(Cache c) {
        int eax = c.type() | c.level() << 5 | (c.selfInit() ? 1 << 8 : 0);
        int ebx = (LINE - 1) | (c.ways() - 1) << 22;
        int edx = (c.noInvdSharing() ? 1 : 0) | (c.inclusive() ? 2 : 0) | (c.complexIndexing() ? 4 : 0);
        return new int[]{eax, ebx, c.sets() - 1, edx};
    }

    /** APM's associativity code for 0x80000006 (2 → 2, 4 → 4, 8 → 6, 16 → 8, ...). */
    static int amdAssociativity(int ways) {
        return switch (ways) {
            case 1 -> 1; case 2 -> 2; case 4 -> 4; case 8 -> 6; case 16 -> 8; case 32 -> 0xa; case 48 -> 0xb;
            case 64 -> 0xc; case 96 -> 0xd; case 128 -> 0xe; default -> 0xf;
        };
    }

    /** 0x80000005 ECX/EDX: size KiB, ways, lines per tag, line size. */
    static int amdL1(Cache c) {
        return c.kib() << 24 | c.ways() << 16 | 1 << 8 | LINE;
    }

    /** Adds the cache leaves the model's level/xlevel reach. */
    static void addLeaves(List<CpuidEntries.Entry> l, CpuModel m, java.util.Set<String> features, int level, int xlevel) {
        Caches caches = of(m.name());
        if (!m.isAmd()) {
            if (level >= 2 && caches.leaf2Descriptors() != null) {
                int[] d = caches.leaf2Descriptors();
                l.add(CpuidBuilder.entry(2, 0, 1, 0, d[3], d[0] << 16 | d[1] << 8 | d[2]));
            }
            if (level >= 4) addDeterministic(l, 4, caches);
        }
        if (Integer.compareUnsigned(xlevel, 0x80000005) >= 0) {
            // L1 TLBs: 255 entries, fully associative, for 2M/4M (EAX) and 4K (EBX) pages.
            l.add(CpuidBuilder.entry(0x80000005, 0, 0x01ff01ff, 0x01ff01ff, amdL1(caches.amdL1d()), amdL1(caches.amdL1i())));
        }
        if (Integer.compareUnsigned(xlevel, 0x80000006) >= 0) {
            Cache l2 = caches.amdL2(), l3 = caches.amdL3();
            int ecx = l2.kib() << 16 | amdAssociativity(l2.ways()) << 12 | 1 << 8 | LINE;
            int edx = (l3.kib() / 512) << 18 | amdAssociativity(l3.ways()) << 12 | 1 << 8 | LINE;
            // L2 TLB: 512 entries 4-way for 4K pages in EBX; none for large pages in EAX.
            l.add(CpuidBuilder.entry(0x80000006, 0, 0, 0x42004200, ecx, edx));
        }
        if (features.contains("topoext") && Integer.compareUnsigned(xlevel, 0x8000001d) >= 0) addDeterministic(l, 0x8000001d, caches);
    }

    private static void addDeterministic(List<CpuidEntries.Entry> l, int leaf, Caches caches) {
        int i = 0;
        for (Cache c : caches.deterministic()) {
            int[] r = deterministic(c);
            l.add(CpuidBuilder.indexed(leaf, i++, r[0], r[1], r[2], r[3]));
        }
        l.add(CpuidBuilder.indexed(leaf, i, 0, 0, 0, 0)); // type 0: no more caches
    }
}
