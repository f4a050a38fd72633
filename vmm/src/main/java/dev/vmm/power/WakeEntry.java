package dev.vmm.power;

import dev.vmm.memory.GuestMemory;

/**
 * Where a guest resumes from S3, read from the FACS the OS filled before sleeping (ACPI 6.x
 * §5.2.10): with the 64-bit {@code X_Firmware_Waking_Vector} set, 32-bit protected mode with
 * paging off at that address (this platform does not offer 64BIT_WAKE_SUPPORTED_F); otherwise real
 * mode at {@code CS:IP = (vector >> 4):(vector & 0xF)} from the 32-bit
 * {@code Firmware_Waking_Vector}, which is what Linux sets. Pure: no KVM.
 *
 * @param mode     the processor mode at entry
 * @param selector CS selector (real mode: vector >> 4; protected: the flat code selector)
 * @param csBase   CS base (selector << 4 in real mode, 0 in protected mode)
 * @param ip       the offset in CS
 */
public record WakeEntry(Mode mode, int selector, long csBase, long ip) {
    public enum Mode { REAL, PROTECTED_32 }

    /** FACS field offsets (ACPI 6.x table 5.14). */
    static final int FIRMWARE_WAKING_VECTOR = 12, FLAGS = 20, X_FIRMWARE_WAKING_VECTOR = 24, VERSION = 32;
    /** The flat 32-bit code selector of the protected-mode entry (any GDT-less value works with KVM's cached descriptors). */
    static final int FLAT_CODE_SELECTOR = 0x10;

    /** The guest-physical address execution starts at. */
    public long linear() { return csBase + ip; }

    /**
     * Decodes the waking vectors; {@code version} is the FACS version (the 64-bit vector exists
     * from version 1 on).
     *
     * @throws IllegalStateException when the OS left no usable vector (it did not prepare for S3)
     */
    public static WakeEntry decode(int vector32, long vector64, int version) {
        if (version >= 1 && vector64 != 0) {
            if (vector64 >>> 32 != 0) throw new IllegalStateException("64-bit waking vector 0x" + Long.toHexString(vector64) + " is above 4 GiB");
            return new WakeEntry(Mode.PROTECTED_32, FLAT_CODE_SELECTOR, 0, vector64);
        }
        long v = Integer.toUnsignedLong(vector32);
        if (v == 0) throw new IllegalStateException("the guest left no waking vector in the FACS");
        if (v >= 0x10_0000) throw new IllegalStateException("waking vector 0x" + Long.toHexString(v) + " is not reachable in real mode");
        int cs = (int) (v >>> 4);
        return new WakeEntry(Mode.REAL, cs, (long) cs << 4, v & 0xF);
    }

    /**
     * Finds the FACS as firmware does — RSDP → RSDT → FADT → FIRMWARE_CTRL (X_FIRMWARE_CTRL when
     * that is 0) — and reads its vectors.
     */
    public static WakeEntry fromRsdp(GuestMemory mem, long rsdp) {
        if (!mem.isValid(rsdp, 20) || mem.readU64(rsdp) != 0x2052_5450_2044_5352L) { // "RSD PTR "
            throw new IllegalStateException("no RSDP at 0x" + Long.toHexString(rsdp));
        }
        long rsdt = Integer.toUnsignedLong(mem.readU32(rsdp + 16));
        if (!mem.isValid(rsdt, 36)) throw new IllegalStateException("RSDT 0x" + Long.toHexString(rsdt) + " outside RAM");
        long len = Integer.toUnsignedLong(mem.readU32(rsdt + 4));
        if (len < 36 || len > 4096 || !mem.isValid(rsdt, len)) throw new IllegalStateException("RSDT length " + len);
        for (long at = rsdt + 36; at + 4 <= rsdt + len; at += 4) {
            long t = Integer.toUnsignedLong(mem.readU32(at));
            if (!mem.isValid(t, 140) || mem.readU32(t) != 0x5043_4146) continue; // "FACP"
            long facs = Integer.toUnsignedLong(mem.readU32(t + 36));
            if (facs == 0) facs = mem.readU64(t + 132);
            return fromFacs(mem, facs);
        }
        throw new IllegalStateException("no FADT in the RSDT");
    }

    /** Reads the vectors from the FACS at {@code facs} in guest RAM. */
    public static WakeEntry fromFacs(GuestMemory mem, long facs) {
        if (!mem.isValid(facs, 64) || mem.readU32(facs) != 0x53434146) { // "FACS"
            throw new IllegalStateException("no FACS at 0x" + Long.toHexString(facs));
        }
        return decode(mem.readU32(facs + FIRMWARE_WAKING_VECTOR), mem.readU64(facs + X_FIRMWARE_WAKING_VECTOR),
                mem.readU8(facs + VERSION) & 0xFF);
    }
}
