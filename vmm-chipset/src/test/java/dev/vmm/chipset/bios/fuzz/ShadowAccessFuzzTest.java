package dev.vmm.chipset.bios.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.chipset.bios.ShadowAccess;
import dev.vmm.chipset.bios.ShadowLayout;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Jazzer target for the BIOS area as a hostile guest reaches it: PAM register writes of any value
 * interleaved with reads and writes of any width at any offset of 0xC0000-0xFFFFF. Findings: an
 * exception out of the device, a read of a ROM-mapped byte that is not the ROM's, of a RAM-mapped
 * byte that is not the last byte PAM let the guest write there, or of nothing that is not all ones;
 * RAM changed where PAM does not send writes to RAM, or anywhere outside the area (checked at the
 * end of each input against a model of the writes). Without
 * JAZZER_FUZZ the seeds under src/test/resources replay;
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=ShadowAccessFuzzTest} fuzzes.
 */
class ShadowAccessFuzzTest {
    static final int ROM = 128 << 10;
    static final int AREA = (int) ShadowAccess.SIZE;
    static final long BELOW = ShadowLayout.START;

    /*
     * One fixture for every input (profiled: building it per input — 2 MiB of native memory, a 128 KiB
     * ROM filled and cloned, and a 1 MiB copy plus compare after every step — was ~90% of the run and
     * the code under test ~5%). Reset between inputs, proved complete at the start of each input: PAM
     * reads all zero (ShadowAccess has no other state: ROM, RAM and PAM are final fields), RAM below
     * the area and the area itself are all zero (checked as part of the previous input's end check).
     */
    static final byte[] ROM_BYTES = new byte[ROM];
    static final MemorySegment HOST = Arena.global().allocate(1 << 20);
    static final GuestMemory RAM = new GuestMemory(List.of(new GuestRegion(0, 0, HOST)));
    static final PamRegisters PAM = new PamRegisters();
    static final ShadowAccess BIOS;
    static final MemorySegment ZERO = Arena.global().allocate(1 << 20);
    /** What the area of RAM must hold: the model applies each write that PAM sends to RAM. */
    static final byte[] expected = new byte[AREA];

    static {
        for (int i = 0; i < ROM; i++) ROM_BYTES[i] = (byte) (i * 7 + 3);
        BIOS = new ShadowAccess(PAM, ROM_BYTES, RAM);
    }

    @FuzzTest(maxDuration = "60s")
    void accesses(FuzzedDataProvider data) {
        PAM.reset();
        for (byte b : ShadowLayout.snapshot(PAM)) if (b != 0) throw new AssertionError("PAM reset incomplete");
        try {
            for (int step = 0; step < 64 && data.remainingBytes() > 0; step++) {
                switch (data.consumeInt(0, 2)) {
                    case 0 -> PAM.write(data.consumeInt(-1, 8), data.consumeInt());
                    case 1 -> {
                        long off = data.consumeLong(-8, ShadowAccess.SIZE + 8);
                        int size = data.consumeInt(0, 9);
                        long v = BIOS.read(off, size);
                        if (off >= 0 && size >= 1 && size <= 8 && off + size <= ShadowAccess.SIZE) {
                            List<ShadowLayout.Region> regions = ShadowLayout.regions(ShadowLayout.snapshot(PAM), ROM);
                            for (int i = 0; i < size; i++) {
                                long addr = BELOW + off + i;
                                ShadowLayout.Region r = ShadowLayout.regionAt(regions, addr);
                                int got = (int) ((v >>> (8 * i)) & 0xff);
                                int want = switch (r.reads()) {
                                    case ROM -> ROM_BYTES[(int) (r.romOffset() + addr - r.base())] & 0xff;
                                    case RAM -> expected[(int) (addr - BELOW)] & 0xff;
                                    case NOTHING -> 0xff;
                                };
                                if (got != want) throw new AssertionError(r.reads() + " byte at 0x" + Long.toHexString(addr) + " read wrong");
                            }
                        } else if (v != -1L) {
                            throw new AssertionError("an invalid access read 0x" + Long.toHexString(v));
                        }
                    }
                    default -> {
                        long off = data.consumeLong(-8, ShadowAccess.SIZE + 8);
                        int size = data.consumeInt(0, 9);
                        long value = data.consumeLong();
                        BIOS.write(off, size, value);
                        if (off >= 0 && size >= 1 && size <= 8 && off + size <= ShadowAccess.SIZE) {
                            List<ShadowLayout.Region> regions = ShadowLayout.regions(ShadowLayout.snapshot(PAM), ROM);
                            for (int i = 0; i < size; i++) {
                                long addr = BELOW + off + i;
                                if (ShadowLayout.regionAt(regions, addr).writesRam()) expected[(int) (addr - BELOW)] = (byte) (value >>> (8 * i));
                            }
                        }
                    }
                }
            }
            // RAM is what the model says: zero below the area, the model's bytes in it. A write
            // PAM did not send to RAM, or outside the area, shows here.
            long below = HOST.asSlice(0, BELOW).mismatch(ZERO.asSlice(0, BELOW));
            if (below >= 0) throw new AssertionError("RAM at 0x" + Long.toHexString(below) + " changed");
            long inArea = HOST.asSlice(BELOW, AREA).mismatch(MemorySegment.ofArray(expected));
            if (inArea >= 0) throw new AssertionError("RAM at 0x" + Long.toHexString(BELOW + inArea) + " differs from the writes PAM sent to RAM");
        } finally {
            // RAM equalled the model (or the input already failed): zero the area in both
            HOST.asSlice(BELOW, AREA).fill((byte) 0);
            java.util.Arrays.fill(expected, (byte) 0);
        }
    }
}
