package dev.vmm.chipset.bios;

import dev.vmm.chipset.bios.ShadowLayout.Backing;
import dev.vmm.chipset.bios.ShadowLayout.Reads;
import dev.vmm.chipset.bios.ShadowLayout.Slot;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** PAM register bytes → what the BIOS area reads and writes, and the KVM slots for it (no KVM). */
class ShadowLayoutTest {
    static final int ROM = 256 << 10;

    static byte[] pam(int pam0, int rest) {
        byte[] b = new byte[7];
        b[0] = (byte) pam0;
        for (int i = 1; i < 7; i++) b[i] = (byte) rest;
        return b;
    }

    @Test
    void powerOnReadsTheRomAliasAtTheTopAndNothingBelow() {
        List<ShadowLayout.Region> r = ShadowLayout.regions(pam(0, 0), ROM);
        assertEquals(13, r.size());
        for (ShadowLayout.Region x : r) {
            assertFalse(x.writesRam(), "power-on: every write dropped");
            assertEquals(x.base() >= 0xE0000 ? Reads.ROM : Reads.NOTHING, x.reads(), Long.toHexString(x.base()));
        }
        assertEquals(ROM - 0x20000, ShadowLayout.regionAt(r, 0xE0000).romOffset());
        assertEquals(ROM - 0x10000, ShadowLayout.regionAt(r, 0xF0000).romOffset());
        assertEquals(List.of(new Slot(0xE0000, 0x20000, Backing.ROM, ROM - 0x20000, true)), ShadowLayout.slots(r));
    }

    @Test
    void readWriteEverywhereIsOneRamSlotAndReadOnlyOneProtectedSlot() {
        assertEquals(List.of(new Slot(0xC0000, 0x40000, Backing.RAM, 0xC0000, false)),
                ShadowLayout.slots(ShadowLayout.regions(pam(0x30, 0x33), ROM)));
        assertEquals(List.of(new Slot(0xC0000, 0x40000, Backing.RAM, 0xC0000, true)),
                ShadowLayout.slots(ShadowLayout.regions(pam(0x10, 0x11), ROM)));
        // reserved bits (PAM0 3:0, PAMn 7:6 and 3:2) decode nothing
        assertEquals(ShadowLayout.regions(pam(0x30, 0x33), ROM), ShadowLayout.regions(pam(0x3F, 0xFF), ROM));
    }

    @Test
    void writeOnlyReadsRomWritesRamAndMixedSegmentsSplitSlots() {
        List<ShadowLayout.Region> w = ShadowLayout.regions(pam(0x20, 0x22), ROM);
        assertTrue(w.stream().allMatch(ShadowLayout.Region::writesRam));
        assertEquals(List.of(new Slot(0xE0000, 0x20000, Backing.ROM, ROM - 0x20000, true)), ShadowLayout.slots(w));
        // PAM1 = 0x31: 0xC0000 read-only shadow, 0xC4000 read/write; the rest disabled
        byte[] p = pam(0, 0);
        p[1] = 0x31;
        assertEquals(List.of(new Slot(0xC0000, 0x4000, Backing.RAM, 0xC0000, true),
                        new Slot(0xC4000, 0x4000, Backing.RAM, 0xC4000, false),
                        new Slot(0xE0000, 0x20000, Backing.ROM, ROM - 0x20000, true)),
                ShadowLayout.slots(ShadowLayout.regions(p, ROM)));
    }

    @Test
    void aSmallRomIsAliasedOnlyWhereItFits() {
        List<ShadowLayout.Region> r = ShadowLayout.regions(pam(0, 0), 64 << 10);
        assertEquals(Reads.NOTHING, ShadowLayout.regionAt(r, 0xEC000).reads());
        assertEquals(Reads.ROM, ShadowLayout.regionAt(r, 0xF0000).reads());
        assertEquals(List.of(new Slot(0xF0000, 0x10000, Backing.ROM, 0, true)), ShadowLayout.slots(r));
    }

    /** SeaBIOS's sequence: open everything read/write, copy the ROM from 4 GiB − size, protect the copy. */
    @Test
    void shadowingThroughTheFallbackDevice() {
        byte[] rom = new byte[ROM];
        new Random(1).nextBytes(rom);
        GuestMemory ram = ram();
        PamRegisters pam = new PamRegisters();
        ShadowAccess bios = new ShadowAccess(pam, rom, ram);
        long off = 0xFFFF0 - ShadowLayout.START;
        assertEquals(rom[ROM - 16] & 0xff, bios.read(off, 1), "reset vector bytes come from the ROM");
        assertEquals(-1L & 0xffffffffL, bios.read(0, 4), "0xC0000 at power-on: open bus");
        bios.write(off, 1, 0x5a);
        assertEquals(0, ram.readU8(0xFFFF0), "power-on: ROM writes dropped, RAM untouched");

        for (int i = 0; i < 7; i++) pam.write(i, 0x33);
        for (long a = 0xE0000; a < 0x100000; a += 8) bios.write(a - ShadowLayout.START, 8, longAt(rom, (int) (ROM - (0x100000 - a))));
        for (int i = 0; i < 7; i++) pam.write(i, 0x11);
        assertEquals(longAt(rom, ROM - 16), bios.read(off, 8), "the shadow holds the copy");
        bios.write(off, 8, 0);
        assertEquals(longAt(rom, ROM - 16), ram.readU64(0xFFFF0), "read-only shadow: the write was dropped");

        // write-only: reads still the ROM, writes reach RAM underneath
        pam.write(0, 0x20);
        bios.write(off, 1, 0x77);
        assertEquals(rom[ROM - 16] & 0xff, bios.read(off, 1));
        assertEquals(0x77, ram.readU8(0xFFFF0) & 0xff);
    }

    /** The slots and the fallback device agree on every byte for random PAM states. */
    @Test
    void slotViewEqualsFallbackView() {
        byte[] rom = new byte[ROM];
        new Random(2).nextBytes(rom);
        GuestMemory ram = ram();
        byte[] ramBytes = new byte[0x40000];
        new Random(3).nextBytes(ramBytes);
        ram.write(ShadowLayout.START, ramBytes);
        PamRegisters pam = new PamRegisters();
        ShadowAccess bios = new ShadowAccess(pam, rom, ram);
        Random rnd = new Random(4);
        for (int round = 0; round < 40; round++) {
            for (int i = 0; i < 7; i++) pam.write(i, rnd.nextInt(256));
            List<Slot> slots = ShadowLayout.slots(ShadowLayout.regions(ShadowLayout.snapshot(pam), ROM));
            for (long at = ShadowLayout.START; at < ShadowLayout.END; at += 0x1000 + 17) {
                long a = at;
                Slot s = slots.stream().filter(x -> a >= x.base() && a < x.base() + x.size()).findFirst().orElse(null);
                if (s == null) {
                    assertEquals(0xff, bios.read(a - ShadowLayout.START, 1), Arrays.toString(ShadowLayout.snapshot(pam)));
                    continue;
                }
                int viaSlot = s.backing() == Backing.RAM ? ram.readU8(a) & 0xff : rom[(int) (s.offset() + a - s.base())] & 0xff;
                assertEquals(viaSlot, bios.read(a - ShadowLayout.START, 1), Long.toHexString(a));
                if (!s.readOnly()) assertEquals(Backing.RAM, s.backing(), "only RAM may be a writable slot");
            }
        }
    }

    private static GuestMemory ram() {
        return new GuestMemory(List.of(new GuestRegion(0, 0, Arena.ofAuto().allocate(2 << 20, 4096))));
    }

    private static long longAt(byte[] b, int i) {
        long v = 0;
        for (int k = 7; k >= 0; k--) v = v << 8 | (b[i + k] & 0xff);
        return v;
    }
}
