package dev.vmm.chipset.pci;

import dev.vmm.chipset.bus.Bus;

/** Config-space accesses the way a guest driver does them: through ports 0xCF8/0xCFC on the PIO bus. */
final class FakeGuest {
    final Bus pio;

    FakeGuest(Bus pio) {
        this.pio = pio;
    }

    static int address(int bus, int dev, int fn, int reg) {
        return 0x8000_0000 | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC);
    }

    int read(int bus, int dev, int fn, int reg, int size) {
        pio.write(0xCF8, 4, address(bus, dev, fn, reg) & 0xFFFF_FFFFL);
        return (int) pio.read(0xCFC + (reg & 3), size);
    }

    void write(int bus, int dev, int fn, int reg, int size, int value) {
        pio.write(0xCF8, 4, address(bus, dev, fn, reg) & 0xFFFF_FFFFL);
        pio.write(0xCFC + (reg & 3), size, value & 0xFFFF_FFFFL);
    }

    /** Sizes BAR {@code index} as Linux does (decoding off around it); returns the size, 0 if unimplemented. */
    long sizeBar(int bus, int dev, int fn, int index) {
        int reg = 0x10 + 4 * index;
        int cmd = read(bus, dev, fn, 0x04, 2);
        write(bus, dev, fn, 0x04, 2, cmd & ~0x3);
        int orig = read(bus, dev, fn, reg, 4);
        write(bus, dev, fn, reg, 4, 0xFFFF_FFFF);
        int low = read(bus, dev, fn, reg, 4);
        write(bus, dev, fn, reg, 4, orig);
        long size;
        if ((low & 1) == 1) {
            long mask = low & 0xFFFF_FFFCL;
            if (mask == 0) size = 0;
            else size = Long.lowestOneBit(mask);
        } else if ((low & 0x6) == 0x4) {
            int origHigh = read(bus, dev, fn, reg + 4, 4);
            write(bus, dev, fn, reg + 4, 4, 0xFFFF_FFFF);
            long high = read(bus, dev, fn, reg + 4, 4) & 0xFFFF_FFFFL;
            write(bus, dev, fn, reg + 4, 4, origHigh);
            long mask = (high << 32) | (low & 0xFFFF_FFF0L);
            size = mask == 0 ? 0 : Long.lowestOneBit(mask);
        } else {
            long mask = low & 0xFFFF_FFF0L;
            size = mask == 0 ? 0 : Long.lowestOneBit(mask);
        }
        write(bus, dev, fn, 0x04, 2, cmd);
        return size;
    }
}
