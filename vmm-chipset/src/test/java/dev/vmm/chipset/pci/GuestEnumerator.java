package dev.vmm.chipset.pci;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A firmware/OS-like PCI enumerator that only uses config cycles through {@link FakeGuest}: scans
 * buses depth first, numbers bridges, then assigns BARs and bridge windows from simple bump
 * allocators and enables decoding. Just enough of what SeaBIOS or Linux do to drive the model.
 */
final class GuestEnumerator {
    record Found(int bus, int dev, int fn, int vendor, int device, int headerType) { }

    final FakeGuest guest;
    final List<Found> found = new ArrayList<>();
    /** "bus:dev.fn/bar" -> assigned address. */
    final Map<String, Long> assigned = new LinkedHashMap<>();
    private int lastBus;
    long mem32;
    long mem64;
    long io;

    GuestEnumerator(FakeGuest guest, long mem32Base, long mem64Base, long ioBase) {
        this.guest = guest;
        this.mem32 = mem32Base;
        this.mem64 = mem64Base;
        this.io = ioBase;
    }

    /** Walks all 256 bus numbers' worth of hierarchy from bus 0; returns the highest bus number. */
    int scan() {
        lastBus = 0;
        return scanBus(0);
    }

    private int scanBus(int bus) {
        for (int dev = 0; dev < 32; dev++) {
            for (int fn = 0; fn < 8; fn++) {
                int id = guest.read(bus, dev, fn, 0, 4);
                if ((id & 0xFFFF) == 0xFFFF) {
                    if (fn == 0) break;
                    continue;
                }
                int header = guest.read(bus, dev, fn, 0x0E, 1);
                found.add(new Found(bus, dev, fn, id & 0xFFFF, id >>> 16, header & 0x7F));
                if ((header & 0x7F) == 1) {
                    int secondary = ++lastBus;
                    // primary, secondary, subordinate = 0xFF while scanning below (so deeper cycles pass)
                    guest.write(bus, dev, fn, 0x18, 4, bus | secondary << 8 | 0xFF << 16);
                    int max = scanBus(secondary);
                    guest.write(bus, dev, fn, 0x1A, 1, max);
                }
                if (fn == 0 && (header & 0x80) == 0) break;
            }
        }
        return lastBus;
    }

    /** Assigns BARs and windows for the hierarchy below {@code bus} and enables decoding everywhere. */
    void assign(int bus) {
        for (Found f : found) {
            if (f.bus() != bus) continue;
            if (f.headerType() == 1) {
                int secondary = guest.read(f.bus(), f.dev(), f.fn(), 0x19, 1);
                io = align(io, 0x1000);
                mem32 = align(mem32, 1 << 20);
                mem64 = align(mem64, 1 << 20);
                long ioStart = io, memStart = mem32, prefStart = mem64;
                assign(secondary);
                io = align(io, 0x1000);
                mem32 = align(mem32, 1 << 20);
                mem64 = align(mem64, 1 << 20);
                window(f, 0x1C, 1, ioStart, io);
                window(f, 0x20, 2, memStart, mem32);
                window(f, 0x24, 2, prefStart, mem64);
                guest.write(f.bus(), f.dev(), f.fn(), 0x28, 4, (int) (prefStart >>> 32));
                guest.write(f.bus(), f.dev(), f.fn(), 0x2C, 4, (int) ((mem64 - 1) >>> 32));
                guest.write(f.bus(), f.dev(), f.fn(), 0x04, 2, 0x7);
                continue;
            }
            for (int bar = 0; bar < 6; bar++) {
                int low = guest.read(f.bus(), f.dev(), f.fn(), 0x10 + 4 * bar, 4);
                long size = guest.sizeBar(f.bus(), f.dev(), f.fn(), bar);
                if (size == 0) continue;
                long addr;
                if ((low & 1) == 1) {
                    addr = io = align(io, size);
                    io += size;
                } else if ((low & 0x8) != 0) {
                    addr = mem64 = align(mem64, size);
                    mem64 += size;
                } else {
                    addr = mem32 = align(mem32, size);
                    mem32 += size;
                }
                guest.write(f.bus(), f.dev(), f.fn(), 0x10 + 4 * bar, 4, (int) addr);
                if ((low & 0x6) == 0x4) {
                    guest.write(f.bus(), f.dev(), f.fn(), 0x14 + 4 * bar, 4, (int) (addr >>> 32));
                }
                assigned.put(key(f.bus(), f.dev(), f.fn(), bar), addr);
                if ((low & 0x6) == 0x4) bar++;
            }
            if (f.vendor() != 0x8086) guest.write(f.bus(), f.dev(), f.fn(), 0x04, 2, 0x7);
        }
    }

    /** Programs a base/limit pair: [start, end) or closed (base above limit) when empty. */
    private void window(Found f, int reg, int size, long start, long end) {
        boolean empty = end == start;
        if (size == 1) {                                   // I/O: bits 7:4 = address bits 15:12
            int base = empty ? 0xF0 : (int) (start >>> 8) & 0xF0;
            int limit = empty ? 0x00 : (int) ((end - 1) >>> 8) & 0xF0;
            guest.write(f.bus(), f.dev(), f.fn(), reg, 1, base);
            guest.write(f.bus(), f.dev(), f.fn(), reg + 1, 1, limit);
        } else {                                           // memory: bits 15:4 = address bits 31:20
            int base = empty ? 0xFFF0 : (int) (start >>> 16) & 0xFFF0;
            int limit = empty ? 0x0000 : (int) ((end - 1) >>> 16) & 0xFFF0;
            guest.write(f.bus(), f.dev(), f.fn(), reg, 2, base);
            guest.write(f.bus(), f.dev(), f.fn(), reg + 2, 2, limit);
        }
    }

    static String key(int bus, int dev, int fn, int bar) {
        return bus + ":" + dev + "." + fn + "/" + bar;
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }
}
