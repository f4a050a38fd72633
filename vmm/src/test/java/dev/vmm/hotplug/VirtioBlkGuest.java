package dev.vmm.hotplug;

import dev.vmm.memory.GuestMemory;

import java.time.Duration;
import java.time.Instant;

/**
 * The guest side of a virtio-blk PCI function, as a driver does it: finds the virtio and MSI-X
 * capabilities in config space, reads BAR4, enables MSI-X (config vector 0, queue vector 1),
 * brings queue 0 up and reads sectors. Structures live in guest RAM at fixed addresses.
 */
final class VirtioBlkGuest {
    private static final long DESC = 0x10000, AVAIL = 0x11000, USED = 0x12000, HDR = 0x20000, DATA = 0x21000, STATUS = 0x22000;
    private static final int QUEUE_SIZE = 16;
    private final HotplugRig rig;
    private final int bus, dev;
    private long bar, common, notify;
    private int notifyMultiplier;
    private int avail;

    VirtioBlkGuest(HotplugRig rig, int bus, int dev) {
        this.rig = rig;
        this.bus = bus;
        this.dev = dev;
    }

    /**
     * The same driver continuing on another machine (a snapshot's restore, a migration's
     * destination): its BAR, notify layout and ring positions are what the saved state put back.
     */
    VirtioBlkGuest movedTo(HotplugRig other) {
        VirtioBlkGuest g = new VirtioBlkGuest(other, bus, dev);
        g.bar = bar;
        g.common = common;
        g.notify = notify;
        g.notifyMultiplier = notifyMultiplier;
        g.avail = avail;
        return g;
    }

    private long cfg(int reg, int size) { return rig.cfgRead(bus, dev, 0, reg, size); }

    /** Capability offset of the first capability {@code id} (and for 0x09 of cfg_type {@code type}), or -1. */
    private int capability(int id, int type) {
        for (int at = (int) cfg(0x34, 1); at != 0; at = (int) cfg(at + 1, 1)) {
            if (cfg(at, 1) == id && (type < 0 || cfg(at + 3, 1) == type)) return at;
        }
        return -1;
    }

    /** Driver initialisation up to DRIVER_OK with one queue, MSI-X on. */
    void start() {
        bar = (cfg(0x20, 4) & ~0xFL) | cfg(0x24, 4) << 32;
        rig.cfgWrite(bus, dev, 0, 0x04, 2, cfg(0x04, 2) | 0x6);     // memory decode + bus master
        int commonCap = capability(0x09, 1), notifyCap = capability(0x09, 2);
        common = bar + cfg(commonCap + 8, 4);
        notify = bar + cfg(notifyCap + 8, 4);
        notifyMultiplier = (int) cfg(notifyCap + 16, 4);
        int msix = capability(0x11, -1);
        long table = bar + (cfg(msix + 4, 4) & ~7L);
        rig.cfgWrite(bus, dev, 0, msix + 2, 2, 0x8000);               // MSI-X enable
        for (int v = 0; v < 2; v++) {
            rig.mmio.write(table + 16L * v, 4, 0xFEE0_0000L);
            rig.mmio.write(table + 16L * v + 4, 4, 0);
            rig.mmio.write(table + 16L * v + 8, 4, 0x40 + v);
            rig.mmio.write(table + 16L * v + 12, 4, 0);               // unmasked
        }
        w(0x14, 1, 0);
        w(0x14, 1, 1 | 2);
        w(0x00, 4, 1);
        if ((r(0x04, 4) & 1) == 0) throw new AssertionError("VIRTIO_F_VERSION_1 not offered");
        w(0x08, 4, 0);
        w(0x0c, 4, 0);
        w(0x08, 4, 1);
        w(0x0c, 4, 1);
        w(0x14, 1, 1 | 2 | 8);
        if ((r(0x14, 1) & 8) == 0) throw new AssertionError("FEATURES_OK refused");
        w(0x10, 2, 0);
        w(0x16, 2, 0);
        w(0x18, 2, QUEUE_SIZE);
        w(0x1a, 2, 1);
        w(0x20, 4, DESC);
        w(0x24, 4, 0);
        w(0x28, 4, AVAIL);
        w(0x2c, 4, 0);
        w(0x30, 4, USED);
        w(0x34, 4, 0);
        w(0x1c, 2, 1);
        w(0x14, 1, 1 | 2 | 4 | 8);
        if ((r(0x14, 1) & 0x40) != 0) throw new AssertionError("DEVICE_NEEDS_RESET");
    }

    /** Reads sector 0 into guest RAM and returns the status byte and the 512 bytes. */
    byte[] readSector0(Duration within) {
        GuestMemory m = rig.memory;
        m.writeU32(HDR, 0);                         // VIRTIO_BLK_T_IN
        m.writeU32(HDR + 4, 0);
        m.writeU64(HDR + 8, 0);
        m.writeU8(STATUS, (byte) 0xff);
        desc(0, HDR, 16, 1, 1);
        desc(1, DATA, 512, 1 | 2, 2);
        desc(2, STATUS, 1, 2, 0);
        int usedBefore = m.readU16(USED + 2) & 0xffff;
        m.writeU16(AVAIL + 4 + 2L * (avail % QUEUE_SIZE), (short) 0);
        m.writeU16(AVAIL + 2, (short) ++avail);
        rig.mmio.write(notify + (long) notifyMultiplier * r(0x1e, 2), 2, 0);
        Instant deadline = Instant.now().plus(within);
        while ((m.readU16(USED + 2) & 0xffff) == usedBefore) {
            if (Instant.now().isAfter(deadline)) throw new AssertionError("no used entry within " + within);
            java.util.concurrent.locks.LockSupport.parkNanos(200_000);   // polled against the deadline
        }
        byte[] out = new byte[513];
        m.read(DATA, out, 0, 512);
        out[512] = m.readU8(STATUS);
        return out;
    }

    private void desc(int i, long addr, int len, int flags, int next) {
        GuestMemory m = rig.memory;
        m.writeU64(DESC + 16L * i, addr);
        m.writeU32(DESC + 16L * i + 8, len);
        m.writeU16(DESC + 16L * i + 12, (short) flags);
        m.writeU16(DESC + 16L * i + 14, (short) next);
    }

    private long r(int off, int size) { return rig.mmio.read(common + off, size); }

    private void w(int off, int size, long v) { rig.mmio.write(common + off, size, v); }
}
