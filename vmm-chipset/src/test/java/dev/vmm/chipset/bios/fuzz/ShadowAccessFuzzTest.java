package dev.vmm.chipset.bios.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.bios.ShadowAccess;
import dev.vmm.chipset.bios.ShadowLayout;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * Jazzer target for the BIOS area as a hostile guest reaches it: PAM register writes of any value
 * interleaved with reads and writes of any width at any offset of 0xC0000-0xFFFFF. Findings: an
 * exception out of the device, a read of a ROM-mapped byte that is not the ROM's, a write that
 * changes RAM where PAM does not send writes to RAM, or any change of RAM outside the area. Without
 * JAZZER_FUZZ the seeds under src/test/resources replay;
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=ShadowAccessFuzzTest} fuzzes.
 */
class ShadowAccessFuzzTest {
    static final int ROM = 128 << 10;

    @FuzzTest(maxDuration = "60s")
    void accesses(FuzzedDataProvider data) {
        try (Arena arena = Arena.ofConfined()) {
            java.lang.foreign.MemorySegment host = arena.allocate(1 << 20), copy = arena.allocate(1 << 20);
            GuestMemory ram = new GuestMemory(List.of(new GuestRegion(0, 0, host)));
            byte[] rom = new byte[ROM];
            for (int i = 0; i < ROM; i++) rom[i] = (byte) (i * 7 + 3);
            PamRegisters pam = new PamRegisters();
            ShadowAccess bios = new ShadowAccess(pam, rom, ram);
            for (int step = 0; step < 64 && data.remainingBytes() > 0; step++) {
                copy.copyFrom(host);
                switch (data.consumeInt(0, 2)) {
                    case 0 -> pam.write(data.consumeInt(-1, 8), data.consumeInt());
                    case 1 -> {
                        long off = data.consumeLong(-8, ShadowAccess.SIZE + 8);
                        int size = data.consumeInt(0, 9);
                        long v = bios.read(off, size);
                        if (off >= 0 && size >= 1 && size <= 8 && off + size <= ShadowAccess.SIZE) {
                            List<ShadowLayout.Region> regions = ShadowLayout.regions(ShadowLayout.snapshot(pam), ROM);
                            for (int i = 0; i < size; i++) {
                                long addr = ShadowLayout.START + off + i;
                                ShadowLayout.Region r = ShadowLayout.regionAt(regions, addr);
                                if (r.reads() == ShadowLayout.Reads.ROM && ((v >>> (8 * i)) & 0xff) != (rom[(int) (r.romOffset() + addr - r.base())] & 0xff)) {
                                    throw new AssertionError("ROM byte at 0x" + Long.toHexString(addr) + " read wrong");
                                }
                            }
                        }
                    }
                    default -> {
                        long off = data.consumeLong(-8, ShadowAccess.SIZE + 8);
                        int size = data.consumeInt(0, 9);
                        bios.write(off, size, data.consumeLong());
                        List<ShadowLayout.Region> regions = ShadowLayout.regions(ShadowLayout.snapshot(pam), ROM);
                        for (long a = copy.mismatch(host); a >= 0; ) {
                            ShadowLayout.Region r = ShadowLayout.regionAt(regions, a);
                            if (r == null || !r.writesRam()) throw new AssertionError("RAM at 0x" + Long.toHexString(a) + " changed");
                            long next = copy.asSlice(a + 1).mismatch(host.asSlice(a + 1));
                            a = next < 0 ? -1 : a + 1 + next;
                        }
                    }
                }
            }
        }
    }
}
