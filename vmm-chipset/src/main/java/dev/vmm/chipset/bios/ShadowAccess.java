package dev.vmm.chipset.bios;

import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.memory.GuestMemory;

import java.util.List;
import java.util.Objects;

/**
 * The legacy BIOS area 0xC0000-0xFFFFF ({@link ShadowLayout#START}, 256 KiB) as an MMIO device: the
 * accesses no KVM memory slot serves — a write to a read-only slot (ROM, write-protected shadow,
 * the copy step of a write-only segment), any access where no slot is installed (open bus, or a slot
 * being replaced) — get here and are given the meaning of {@link ShadowLayout} for the PAM state at
 * that moment. Reads of the ROM come from the image bytes, RAM through {@link GuestMemory}; writes
 * that PAM does not send to RAM are dropped, reads of nothing return all ones.
 */
public final class ShadowAccess implements BusDevice {
    public static final long SIZE = ShadowLayout.END - ShadowLayout.START;

    private final PamRegisters pam;
    private final byte[] rom;
    private final GuestMemory ram;

    public ShadowAccess(PamRegisters pam, byte[] rom, GuestMemory ram) {
        this.pam = Objects.requireNonNull(pam);
        this.rom = rom.clone();
        this.ram = Objects.requireNonNull(ram);
    }

    private List<ShadowLayout.Region> regions() {
        return ShadowLayout.regions(ShadowLayout.snapshot(pam), rom.length);
    }

    @Override
    public long read(long offset, int size) {
        if (offset < 0 || size < 1 || size > 8 || offset + size > SIZE) return -1L;
        List<ShadowLayout.Region> regions = regions();
        long v = 0;
        for (int i = 0; i < size; i++) {
            long addr = ShadowLayout.START + offset + i;
            ShadowLayout.Region r = ShadowLayout.regionAt(regions, addr);
            int b = switch (r.reads()) {
                case RAM -> ram.isValid(addr, 1) ? ram.readU8(addr) & 0xff : 0xff;
                case ROM -> rom[(int) (r.romOffset() + (addr - r.base()))] & 0xff;
                case NOTHING -> 0xff;
            };
            v |= (long) b << (8 * i);
        }
        return v;
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset < 0 || size < 1 || size > 8 || offset + size > SIZE) return;
        List<ShadowLayout.Region> regions = regions();
        for (int i = 0; i < size; i++) {
            long addr = ShadowLayout.START + offset + i;
            ShadowLayout.Region r = ShadowLayout.regionAt(regions, addr);
            if (r.writesRam() && ram.isValid(addr, 1)) ram.writeU8(addr, (byte) (value >>> (8 * i)));
        }
    }
}
