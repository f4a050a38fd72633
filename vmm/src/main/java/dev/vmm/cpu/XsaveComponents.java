package dev.vmm.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * XSAVE state components (Intel SDM vol. 1 ch. 13 "Managing State Using the XSAVE Feature Set",
 * table 13-1, and vol. 2A CPUID leaf 0DH): which feature enables which component, and the
 * component's size and offset in the standard (non-compacted) format.
 */
public final class XsaveComponents {
    private XsaveComponents() {}

    /** One user state component ({@code index} = its bit in XCR0). */
    public record Component(int index, String feature, int size, int offset, boolean aligned) {}

    /** x87 and SSE state live in the 512-byte legacy area, followed by the 64-byte XSAVE header. */
    public static final int LEGACY_AND_HEADER = 512 + 64;

    public static final List<Component> USER = List.of(
            new Component(2, "avx", 256, 576, false),          // YMM_Hi128
            new Component(3, "mpx", 64, 960, false),           // BNDREGS
            new Component(4, "mpx", 64, 1024, false),          // BNDCSR
            new Component(5, "avx512f", 64, 1088, false),      // opmask
            new Component(6, "avx512f", 512, 1152, false),     // ZMM_Hi256
            new Component(7, "avx512f", 1024, 1664, false),    // Hi16_ZMM
            new Component(9, "pku", 8, 2688, false),           // PKRU
            new Component(17, "amx-tile", 64, 2752, false),    // XTILECFG
            new Component(18, "amx-tile", 8192, 2816, true));  // XTILEDATA

    /** XCR0 bits a CPU with {@code features} supports: x87 and SSE always, the others by their feature. */
    public static long xcr0(Set<String> features) {
        if (!features.contains("xsave")) return 0;
        long mask = 0b11;
        for (Component c : USER) if (features.contains(c.feature())) mask |= 1L << c.index();
        return mask;
    }

    /** The components (index ≥ 2) present in {@code xcr0}. */
    public static List<Component> in(long xcr0) {
        List<Component> l = new ArrayList<>();
        for (Component c : USER) if ((xcr0 & (1L << c.index())) != 0) l.add(c);
        return l;
    }

    /** The standard-format XSAVE area size holding every component of {@code xcr0}. */
    public static int size(long xcr0) {
        int end = LEGACY_AND_HEADER;
        for (Component c : in(xcr0)) end = Math.max(end, c.offset() + c.size());
        return end;
    }
}
