package dev.vmm.chipset.pci;

import java.util.ArrayList;
import java.util.List;

/** An endpoint whose BARs answer {@code 0xB0000000 | bar << 16 | offset} and record stores and moves. */
final class TestDevice implements PciDevice {
    static final int VENDOR = 0x1234;

    final PciConfigSpace config;
    final List<String> writes = new ArrayList<>();
    final List<String> moves = new ArrayList<>();
    PciFunction function;

    TestDevice(int deviceId) {
        config = PciConfigSpace.endpoint(VENDOR, deviceId, 0x020000, 1);
    }

    static long pattern(int bar, long offset) {
        return 0xB000_0000L | ((long) bar << 16) | offset;
    }

    TestDevice bar(int index, PciBar bar) {
        config.addBar(index, bar);
        return this;
    }

    @Override
    public PciConfigSpace configSpace() { return config; }

    @Override
    public long barRead(int bar, long offset, int size) {
        return pattern(bar, offset) & (size == 8 ? -1L : (1L << (8 * size)) - 1);
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        writes.add(bar + ":" + Long.toHexString(offset) + "=" + Long.toHexString(value));
    }

    @Override
    public void barMoved(int bar, long oldAddress, long newAddress) {
        moves.add(bar + ":" + Long.toHexString(oldAddress) + "->" + Long.toHexString(newAddress));
    }

    @Override
    public void attached(PciFunction function) {
        this.function = function;
    }

    @Override
    public String name() { return "test-" + Integer.toHexString(config.deviceId()); }
}
