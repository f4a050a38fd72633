package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.BusDevice;

/**
 * Enhanced Configuration Access Mechanism (PCI Express "MMCONFIG"): config space of bus B, device
 * D, function F, register R at {@code base + (B << 20 | D << 15 | F << 12 | R)}, 4 KiB per function.
 *
 * <p>Register it on the MMIO bus at the base the ACPI MCFG table announces, with {@link #length()}.
 * Accesses must be 1, 2 or 4 bytes, naturally aligned; anything else reads all ones and writes
 * nothing (the spec leaves larger accesses undefined).
 */
public final class PciEcam implements BusDevice {
    private final PciHostBridge host;
    private final int busCount;

    PciEcam(PciHostBridge host, int busCount) {
        if (busCount < 1 || busCount > 256) throw new IllegalArgumentException("ECAM covers 1..256 buses, got " + busCount);
        this.host = host;
        this.busCount = busCount;
    }

    /** Bytes the window spans: 1 MiB per bus. */
    public long length() {
        return (long) busCount << 20;
    }

    @Override
    public long read(long offset, int size) {
        if (!valid(offset, size)) return PciHostBridge.allOnes(size);
        return host.configRead(bus(offset), device(offset), function(offset), register(offset), size) & 0xFFFF_FFFFL;
    }

    @Override
    public void write(long offset, int size, long value) {
        if (!valid(offset, size)) return;
        host.configWrite(bus(offset), device(offset), function(offset), register(offset), size, (int) value);
    }

    private boolean valid(long offset, int size) {
        return PciHostBridge.validSize(size) && (offset & (size - 1)) == 0 && offset >= 0 && offset < length();
    }

    private static int bus(long offset) { return (int) (offset >>> 20) & 0xFF; }

    private static int device(long offset) { return (int) (offset >>> 15) & 0x1F; }

    private static int function(long offset) { return (int) (offset >>> 12) & 0x7; }

    private static int register(long offset) { return (int) offset & 0xFFF; }
}
