package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;

import java.util.ArrayList;
import java.util.List;

/**
 * Drops what the host's KVM cannot give: a pure function of the wanted leaves and
 * KVM_GET_SUPPORTED_CPUID's leaves. Every named feature bit set in the wanted leaves but clear in
 * the supported ones is cleared and reported; XSAVE components follow the host's XCR0 mask and take
 * the host's sizes and offsets; the physical-address width is capped to the host's.
 */
public final class CpuidFilter {
    private CpuidFilter() {}

    /** The filtered leaves and what was dropped (in table order). */
    public record Result(CpuidEntries leaves, List<CpuFeatures.Feature> dropped) {
        /** QEMU's warning line for each dropped feature. */
        public List<String> warnings() {
            return dropped.stream().map(f -> "host doesn't support requested feature: " + f.describe()).toList();
        }
    }

    /** Features the VMM provides whatever KVM_GET_SUPPORTED_CPUID says. */
    private static boolean alwaysSupported(CpuFeatures.Feature f) {
        return f.name().equals("hypervisor");
    }

    public static Result filter(CpuidEntries wanted, CpuidEntries supported) {
        CpuidEntries out = wanted.copy();
        List<CpuFeatures.Feature> dropped = new ArrayList<>();
        for (CpuFeatures.Feature f : CpuFeatures.all()) {
            if (!f.word().isCpuid() || alwaysSupported(f)) continue;
            CpuidEntries.Entry e = CpuidBuilder.find(out, f.word());
            if (e == null) continue;
            int mask = CpuFeatures.mask(f), have = CpuidBuilder.reg(e, f.word().reg) & mask;
            if (have == 0) continue;
            CpuidEntries.Entry s = CpuidBuilder.find(supported, f.word());
            int ok = s == null ? 0 : CpuidBuilder.reg(s, f.word().reg) & have;
            if (ok != have) {
                CpuidBuilder.setReg(e, f.word().reg, CpuidBuilder.reg(e, f.word().reg) & ~(have & ~ok));
                if (ok == 0) dropped.add(f); // kvmclock: one of its two bits is enough
            }
        }
        // AMD's copies of leaf-1 EDX bits follow what is left of leaf 1.
        CpuidEntries.Entry l0 = out.find(0, 0), l1 = out.find(1, 0), e1 = out.find(0x80000001, 0);
        if (l0 != null && l1 != null && e1 != null && "AuthenticAMD".equals(vendor(l0))) {
            e1.edx = (e1.edx & ~CpuidBuilder.AMD_ALIASES) | (l1.edx & CpuidBuilder.AMD_ALIASES);
        }
        filterXsave(out, supported);
        CpuidEntries.Entry a = out.find(0x80000008, 0), ha = supported.find(0x80000008, 0);
        if (a != null && ha != null && (ha.eax & 0xff) != 0 && (ha.eax & 0xff) < (a.eax & 0xff)) {
            a.eax = (a.eax & ~0xff) | (ha.eax & 0xff);
        }
        return new Result(out, dropped);
    }

    private static void filterXsave(CpuidEntries out, CpuidEntries supported) {
        CpuidEntries.Entry d0 = find(out, 0xd, 0);
        if (d0 == null) return;
        CpuidEntries.Entry h0 = find(supported, 0xd, 0);
        long want = Integer.toUnsignedLong(d0.eax) | (Integer.toUnsignedLong(d0.edx) << 32);
        long host = h0 == null ? 0 : Integer.toUnsignedLong(h0.eax) | (Integer.toUnsignedLong(h0.edx) << 32);
        long xcr0 = want & host;
        int end = XsaveComponents.LEGACY_AND_HEADER;
        for (CpuidEntries.Entry e : new ArrayList<>(out.entries())) {
            if (e.function != 0xd || e.index < 2 || e.index >= 63) continue;
            if ((xcr0 & (1L << e.index)) == 0) {
                out.entries().remove(e);
                continue;
            }
            CpuidEntries.Entry h = find(supported, 0xd, e.index);
            if (h != null && h.eax != 0) {
                e.eax = h.eax; e.ebx = h.ebx; e.ecx = h.ecx;
            }
            end = Math.max(end, e.ebx + e.eax);
        }
        d0.eax = (int) xcr0;
        d0.edx = (int) (xcr0 >>> 32);
        d0.ebx = d0.ecx = end;
        CpuidEntries.Entry d1 = find(out, 0xd, 1);
        if (d1 != null && d1.ebx != 0) d1.ebx = end;
    }

    private static CpuidEntries.Entry find(CpuidEntries c, int function, int index) {
        for (CpuidEntries.Entry e : c.entries()) if (e.function == function && e.index == index) return e;
        return null;
    }

    private static String vendor(CpuidEntries.Entry leaf0) {
        byte[] b = new byte[12];
        int[] r = {leaf0.ebx, leaf0.edx, leaf0.ecx};
        for (int i = 0; i < 12; i++) b[i] = (byte) (r[i / 4] >>> (8 * (i % 4)));
        return new String(b, java.nio.charset.StandardCharsets.US_ASCII);
    }
}
