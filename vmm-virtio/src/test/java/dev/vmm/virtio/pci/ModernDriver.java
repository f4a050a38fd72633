package dev.vmm.virtio.pci;

import java.util.HashMap;
import java.util.Map;

/**
 * The guest side, written from the virtio spec the way Linux's virtio_pci_modern driver works: it
 * finds the virtio structures by walking the capability list in config space, computes their
 * addresses from the BAR registers, and then talks to the device with MMIO loads and stores of the
 * register widths the spec gives (64-bit fields as two 32-bit halves, low first).
 */
final class ModernDriver {
    /** One vendor-specific virtio capability as read from config space. */
    record Cap(int at, int cfgType, int bar, long offset, long length, int capLen) { }

    final PciRig rig;
    final Map<Integer, Cap> caps = new HashMap<>();
    int msixCap = -1;
    int notifyMultiplier;
    long common;
    long isr;
    long deviceCfg;
    long notifyBase;

    ModernDriver(PciRig rig) {
        this.rig = rig;
    }

    /** Walks the capability list (status bit 4, pointer at 0x34) and records what it finds. */
    ModernDriver probe() {
        if ((rig.configRead(0x06, 2) & 0x10) == 0) throw new AssertionError("no capability list");
        int p = rig.configRead(0x34, 1) & 0xFC;
        int guard = 0;
        while (p != 0 && guard++ < 48) {
            int id = rig.configRead(p, 1);
            if (id == 0x09) {
                int type = rig.configRead(p + 3, 1);
                Cap c = new Cap(p, type, rig.configRead(p + 4, 1),
                        rig.configRead(p + 8, 4) & 0xFFFF_FFFFL, rig.configRead(p + 12, 4) & 0xFFFF_FFFFL,
                        rig.configRead(p + 2, 1));
                caps.putIfAbsent(type, c);                          // the first of each type is the preferred one
                if (type == VirtioPciCapability.CfgType.NOTIFY.code()) notifyMultiplier = rig.configRead(p + 16, 4);
            } else if (id == 0x11) {
                msixCap = p;
            }
            p = rig.configRead(p + 1, 1) & 0xFC;
        }
        return this;
    }

    long barBase(int bar) {
        long low = rig.configRead(0x10 + 4 * bar, 4) & 0xFFFF_FFF0L;
        long high = rig.configRead(0x14 + 4 * bar, 4) & 0xFFFF_FFFFL;
        return high << 32 | low;
    }

    /** Resolves structure addresses once the BAR is programmed. */
    ModernDriver map() {
        common = address(VirtioPciCapability.CfgType.COMMON.code());
        isr = address(VirtioPciCapability.CfgType.ISR.code());
        deviceCfg = address(VirtioPciCapability.CfgType.DEVICE.code());
        notifyBase = address(VirtioPciCapability.CfgType.NOTIFY.code());
        return this;
    }

    private long address(int type) {
        Cap c = caps.get(type);
        return barBase(c.bar()) + c.offset();
    }

    long read(int off, int size) { return rig.mmio.read(common + off, size); }

    void write(int off, int size, long value) { rig.mmio.write(common + off, size, value); }

    long read64(int off) { return read(off, 4) | read(off + 4, 4) << 32; }

    void write64(int off, long value) {
        write(off, 4, value & 0xFFFF_FFFFL);
        write(off + 4, 4, value >>> 32);
    }

    int status() { return (int) read(VirtioPciDevice.DEVICE_STATUS, 1); }

    void setStatus(int bits) { write(VirtioPciDevice.DEVICE_STATUS, 1, bits); }

    void addStatus(int bits) { setStatus(status() | bits); }

    /** Reset as Linux does: write 0, then wait until status reads back 0. */
    void reset() {
        setStatus(0);
        if (status() != 0) throw new AssertionError("status did not read back 0 after reset");
    }

    long deviceFeatures() {
        write(VirtioPciDevice.DEVICE_FEATURE_SELECT, 4, 0);
        long low = read(VirtioPciDevice.DEVICE_FEATURE, 4);
        write(VirtioPciDevice.DEVICE_FEATURE_SELECT, 4, 1);
        long high = read(VirtioPciDevice.DEVICE_FEATURE, 4);
        return high << 32 | low;
    }

    void writeDriverFeatures(long features) {
        write(VirtioPciDevice.DRIVER_FEATURE_SELECT, 4, 0);
        write(VirtioPciDevice.DRIVER_FEATURE, 4, features & 0xFFFF_FFFFL);
        write(VirtioPciDevice.DRIVER_FEATURE_SELECT, 4, 1);
        write(VirtioPciDevice.DRIVER_FEATURE, 4, features >>> 32);
    }

    /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether FEATURES_OK stuck. */
    boolean negotiate(long features) {
        reset();
        addStatus(1);
        addStatus(2);
        writeDriverFeatures(features);
        addStatus(8);
        return (status() & 8) != 0;
    }

    void selectQueue(int q) { write(VirtioPciDevice.QUEUE_SELECT, 2, q); }

    /** Configures queue {@code q} as setup_vq does: size, vector, ring addresses, enable. */
    void setupQueue(int q, int size, int vector, long desc, long avail, long used) {
        selectQueue(q);
        write(VirtioPciDevice.QUEUE_SIZE, 2, size);
        write(VirtioPciDevice.QUEUE_MSIX_VECTOR, 2, vector);
        write64(VirtioPciDevice.QUEUE_DESC, desc);
        write64(VirtioPciDevice.QUEUE_DRIVER, avail);
        write64(VirtioPciDevice.QUEUE_DEVICE, used);
        write(VirtioPciDevice.QUEUE_ENABLE, 2, 1);
    }

    long notifyAddress(int q) {
        selectQueue(q);
        return notifyBase + read(VirtioPciDevice.QUEUE_NOTIFY_OFF, 2) * notifyMultiplier;
    }

    void kick(int q) {
        rig.mmio.write(notifyAddress(q), 2, q);
    }

    int readIsr() { return (int) rig.mmio.read(isr, 1); }

    // MSI-X, through the capability and the table it points at.

    void enableMsix(boolean enable, boolean functionMask) {
        rig.configWrite(msixCap + 2, 2, (enable ? 0x8000 : 0) | (functionMask ? 0x4000 : 0));
    }

    long msixTable() {
        int dword = rig.configRead(msixCap + 4, 4);
        return barBase(dword & 7) + (dword & ~7L & 0xFFFF_FFFFL);
    }

    long msixPba() {
        int dword = rig.configRead(msixCap + 8, 4);
        return barBase(dword & 7) + (dword & ~7L & 0xFFFF_FFFFL);
    }

    void programVector(int vector, long address, int data, boolean masked) {
        long e = msixTable() + 16L * vector;
        rig.mmio.write(e, 4, address & 0xFFFF_FFFFL);
        rig.mmio.write(e + 4, 4, address >>> 32);
        rig.mmio.write(e + 8, 4, data & 0xFFFF_FFFFL);
        rig.mmio.write(e + 12, 4, masked ? 1 : 0);
    }

    void maskVector(int vector, boolean masked) {
        rig.mmio.write(msixTable() + 16L * vector + 12, 4, masked ? 1 : 0);
    }

    long pendingBits() { return rig.mmio.read(msixPba(), 8); }
}
