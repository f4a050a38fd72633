package dev.vmm.chipset.pci;

/**
 * What a Base Address Register asks for: its kind, its size (a power of two) and whether the
 * memory behind it is prefetchable. The programmed address lives in the config space; this is the
 * fixed, device-chosen half.
 *
 * <p>Sizes follow the PCI rules: memory BARs decode at least 16 bytes, I/O BARs at least 4 bytes,
 * and a BAR is naturally aligned to its size, which is what makes the "write all ones, read back
 * the size mask" protocol work.
 */
public record PciBar(Kind kind, long size, boolean prefetchable) {
    /** The address space a BAR decodes in. */
    public enum Kind {
        /** Port I/O (x86 has 64 KiB of ports). */
        IO,
        /** Memory below 4 GiB, one register. */
        MEMORY32,
        /** Memory anywhere, two consecutive registers (low then high dword). */
        MEMORY64;

        public boolean isMemory() { return this != IO; }
    }

    /** Marks an unmapped BAR in {@link BarListener} and {@link PciFunction#barAddress}. */
    public static final long UNMAPPED = -1L;

    public PciBar {
        if (kind == null) throw new IllegalArgumentException("BAR kind is null");
        if (size <= 0 || Long.bitCount(size) != 1) {
            throw new IllegalArgumentException("BAR size must be a power of two, got " + size);
        }
        switch (kind) {
            case IO -> {
                if (size < 4 || size > 0x1_0000) throw new IllegalArgumentException("I/O BAR size out of [4, 64 KiB]: " + size);
                if (prefetchable) throw new IllegalArgumentException("an I/O BAR cannot be prefetchable");
            }
            case MEMORY32 -> {
                if (size < 16 || size > (1L << 31)) throw new IllegalArgumentException("32-bit BAR size out of [16, 2 GiB]: " + size);
            }
            case MEMORY64 -> {
                if (size < 16 || size > (1L << 62)) throw new IllegalArgumentException("64-bit BAR size out of [16, 2^62]: " + size);
            }
        }
    }

    public static PciBar io(long size) { return new PciBar(Kind.IO, size, false); }

    public static PciBar memory32(long size, boolean prefetchable) { return new PciBar(Kind.MEMORY32, size, prefetchable); }

    public static PciBar memory64(long size, boolean prefetchable) { return new PciBar(Kind.MEMORY64, size, prefetchable); }

    /** Number of BAR registers (dwords) this BAR occupies. */
    public int registers() { return kind == Kind.MEMORY64 ? 2 : 1; }

    /** The read-only low bits of the (low) register: space indicator, type and prefetchable flag. */
    int flagBits() {
        return switch (kind) {
            case IO -> 0x1;
            case MEMORY32 -> prefetchable ? 0x8 : 0x0;
            case MEMORY64 -> 0x4 | (prefetchable ? 0x8 : 0x0);
        };
    }

    /** Which bits of the low register the guest may write: the address bits at or above the size. */
    int lowWriteMask() {
        // I/O BARs decode 16 address bits on x86, so the upper half of the register is hardwired to 0
        // (allowed by the spec); memory BARs keep bits 3:0 for flags.
        long addressBits = kind == Kind.IO ? 0xFFFCL : 0xFFFF_FFF0L;
        return (int) (addressBits & ~(size - 1));
    }

    /** Which bits of the high register of a 64-bit BAR the guest may write. */
    int highWriteMask() {
        return (int) (~(size - 1) >>> 32);
    }
}
