package dev.vmm.hotplug;

import dev.vmm.memory.GuestMemory;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;

/**
 * The guest side of a virtio-scsi PCI function, as Linux's virtio_scsi does it: finds the virtio and
 * MSI-X capabilities, negotiates VERSION_1 and (optionally) VIRTIO_SCSI_F_HOTPLUG, brings up the
 * control, event and first request queue (one MSI-X vector each), keeps event buffers posted and
 * sends SCSI commands. Structures live in guest RAM from {@code base}.
 */
final class VirtioScsiGuest {
    static final int QUEUE_SIZE = 64;
    private static final int QUEUES = 3, EVENT = 1, REQUEST = 2;
    private static final int REQ = 19 + 32, RESP = 12 + 96;
    private final HotplugRig rig;
    private final int bus, dev;
    private final long base;
    private long common, notify;
    private int notifyMultiplier;
    private final int[] avail = new int[QUEUES], nextDesc = new int[QUEUES], usedSeen = new int[QUEUES];
    private long scratch;

    /** One used-ring entry read back: the buffer's head and its length. */
    record Used(int head, int len) {}

    /** A SCSI command's answer: virtio response byte, SCSI status, data in. */
    record Answer(int response, int status, byte[] data) {}

    VirtioScsiGuest(HotplugRig rig, int bus, int dev, long base) {
        this.rig = rig;
        this.bus = bus;
        this.dev = dev;
        this.base = base;
        this.scratch = base + QUEUES * 0x4000L;
    }

    private long cfg(int reg, int size) { return rig.cfgRead(bus, dev, 0, reg, size); }

    private int capability(int id, int type) {
        for (int at = (int) cfg(0x34, 1); at != 0; at = (int) cfg(at + 1, 1)) {
            if (cfg(at, 1) == id && (type < 0 || cfg(at + 3, 1) == type)) return at;
        }
        return -1;
    }

    private long desc(int q) { return base + q * 0x4000L; }
    private long availRing(int q) { return desc(q) + 16L * QUEUE_SIZE; }
    private long usedRing(int q) { return desc(q) + 0x2000; }

    /** Driver initialisation up to DRIVER_OK; {@code hotplug}: accept VIRTIO_SCSI_F_HOTPLUG. Returns the device's feature bits 0-31. */
    long start(boolean hotplug) {
        long bar = (cfg(0x20, 4) & ~0xFL) | cfg(0x24, 4) << 32;
        rig.cfgWrite(bus, dev, 0, 0x04, 2, cfg(0x04, 2) | 0x6);
        int commonCap = capability(0x09, 1), notifyCap = capability(0x09, 2);
        common = bar + cfg(commonCap + 8, 4);
        notify = bar + cfg(notifyCap + 8, 4);
        notifyMultiplier = (int) cfg(notifyCap + 16, 4);
        int msix = capability(0x11, -1);
        long table = bar + (cfg(msix + 4, 4) & ~7L);
        rig.cfgWrite(bus, dev, 0, msix + 2, 2, 0x8000);
        for (int v = 0; v <= QUEUES; v++) {
            rig.mmio.write(table + 16L * v, 4, 0xFEE0_0000L);
            rig.mmio.write(table + 16L * v + 4, 4, 0);
            rig.mmio.write(table + 16L * v + 8, 4, 0x40 + v);
            rig.mmio.write(table + 16L * v + 12, 4, 0);
        }
        w(0x14, 1, 0);
        w(0x14, 1, 1 | 2);
        w(0x00, 4, 0);
        long low = r(0x04, 4);
        w(0x00, 4, 1);
        if ((r(0x04, 4) & 1) == 0) throw new AssertionError("VIRTIO_F_VERSION_1 not offered");
        w(0x08, 4, 0);
        w(0x0c, 4, hotplug ? low & 2 : 0);
        w(0x08, 4, 1);
        w(0x0c, 4, 1);
        w(0x14, 1, 1 | 2 | 8);
        if ((r(0x14, 1) & 8) == 0) throw new AssertionError("FEATURES_OK refused");
        w(0x10, 2, 0);
        for (int q = 0; q < QUEUES; q++) {
            rig.memory.write(desc(q), new byte[0x4000]);
            w(0x16, 2, q);
            w(0x18, 2, QUEUE_SIZE);
            w(0x1a, 2, q + 1);
            w(0x20, 4, desc(q));
            w(0x24, 4, 0);
            w(0x28, 4, availRing(q));
            w(0x2c, 4, 0);
            w(0x30, 4, usedRing(q));
            w(0x34, 4, 0);
            w(0x1c, 2, 1);
        }
        w(0x14, 1, 1 | 2 | 4 | 8);
        if ((r(0x14, 1) & 0x40) != 0) throw new AssertionError("DEVICE_NEEDS_RESET");
        return low;
    }

    /** Posts {@code n} event buffers (16 bytes each). */
    void postEventBuffers(int n) {
        for (int i = 0; i < n; i++) submit(EVENT, new long[] {alloc(16)}, new int[] {16}, new boolean[] {true});
    }

    /** The next event the device wrote: {event, lun[1], LUN (flat), reason}; waits up to {@code within}. */
    int[] nextEvent(Duration within) {
        Used u = awaitUsed(EVENT, within);
        long buf = rig.memory.readU64(desc(EVENT) + 16L * u.head());
        GuestMemory m = rig.memory;
        int lun = ((m.readU8(buf + 6) & 0x3F) << 8) | (m.readU8(buf + 7) & 0xFF);
        return new int[] {m.readU32(buf), m.readU8(buf + 5) & 0xFF, lun, m.readU32(buf + 12)};
    }

    /** Whether an event has been written that {@link #nextEvent} has not returned. */
    boolean eventPending() {
        return (rig.memory.readU16(usedRing(EVENT) + 2) & 0xffff) != usedSeen[EVENT];
    }

    /** Sends {@code cdb} to {@code lun} of target 0 with {@code dataOut} and {@code inLen} bytes of data-in room; waits for the answer. */
    Answer command(int lun, byte[] cdb, byte[] dataOut, int inLen, Duration within) {
        long[] p = post(lun, cdb, dataOut, inLen);
        awaitUsed(REQUEST, within);
        return answer(p, inLen);
    }

    /** Posts a command without waiting: {respAddr, dataInAddr}; {@link #awaitAnswer} collects it. */
    long[] post(int lun, byte[] cdb, byte[] dataOut, int inLen) {
        long req = alloc(REQ), resp = alloc(RESP);
        byte[] h = new byte[REQ];
        h[0] = 1;
        h[2] = (byte) (0x40 | lun >> 8);
        h[3] = (byte) lun;
        System.arraycopy(cdb, 0, h, 19, cdb.length);
        rig.memory.write(req, h);
        rig.memory.write(resp, new byte[RESP]);
        int n = 2 + (dataOut != null ? 1 : 0) + (inLen > 0 ? 1 : 0);
        long[] a = new long[n];
        int[] l = new int[n];
        boolean[] wr = new boolean[n];
        int i = 0;
        a[i] = req; l[i++] = REQ;
        if (dataOut != null) {
            long o = alloc(dataOut.length);
            rig.memory.write(o, dataOut);
            a[i] = o; l[i++] = dataOut.length;
        }
        a[i] = resp; l[i] = RESP; wr[i++] = true;
        long in = 0;
        if (inLen > 0) {
            in = alloc(inLen);
            a[i] = in; l[i] = inLen; wr[i] = true;
        }
        submit(REQUEST, a, l, wr);
        return new long[] {resp, in};
    }

    Answer awaitAnswer(long[] posted, int inLen, Duration within) {
        awaitUsed(REQUEST, within);
        return answer(posted, inLen);
    }

    private Answer answer(long[] p, int inLen) {
        byte[] data = new byte[inLen];
        if (inLen > 0) rig.memory.read(p[1], data, 0, inLen);
        return new Answer(rig.memory.readU8(p[0] + 11) & 0xFF, rig.memory.readU8(p[0] + 10) & 0xFF, data);
    }

    /** REPORT LUNS through LUN 0: the LUNs of target 0. */
    int[] reportLuns(Duration within) {
        Answer a = command(0, new byte[] {(byte) 0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, null, 256, within);
        if (a.status() != 0) throw new AssertionError("REPORT LUNS status " + a.status());
        byte[] d = a.data();
        int n = ((d[0] & 0xFF) << 24 | (d[1] & 0xFF) << 16 | (d[2] & 0xFF) << 8 | (d[3] & 0xFF)) / 8;
        int[] luns = new int[n];
        for (int i = 0; i < n; i++) luns[i] = ((d[8 + 8 * i] & 0x3F) << 8) | (d[9 + 8 * i] & 0xFF);
        Arrays.sort(luns);
        return luns;
    }

    static byte[] rw10(int op, int lba, int blocks) {
        return new byte[] {(byte) op, 0, (byte) (lba >> 24), (byte) (lba >> 16), (byte) (lba >> 8), (byte) lba, 0, (byte) (blocks >> 8), (byte) blocks, 0};
    }

    private long alloc(int len) {
        long a = scratch;
        scratch += (len + 15) & ~15L;
        return a;
    }

    private void submit(int q, long[] addr, int[] len, boolean[] writable) {
        GuestMemory m = rig.memory;
        int head = nextDesc[q];
        for (int i = 0; i < addr.length; i++) {
            int d = (head + i) % QUEUE_SIZE;
            long at = desc(q) + 16L * d;
            m.writeU64(at, addr[i]);
            m.writeU32(at + 8, len[i]);
            m.writeU16(at + 12, (short) ((i + 1 < addr.length ? 1 : 0) | (writable[i] ? 2 : 0)));
            m.writeU16(at + 14, (short) ((d + 1) % QUEUE_SIZE));
        }
        nextDesc[q] = (head + addr.length) % QUEUE_SIZE;
        m.writeU16(availRing(q) + 4 + 2L * (avail[q] % QUEUE_SIZE), (short) head);
        m.writeU16(availRing(q) + 2, (short) ++avail[q]);
        w(0x16, 2, q);
        rig.mmio.write(notify + (long) notifyMultiplier * r(0x1e, 2), 2, q);
    }

    private Used awaitUsed(int q, Duration within) {
        GuestMemory m = rig.memory;
        Instant deadline = Instant.now().plus(within);
        while ((m.readU16(usedRing(q) + 2) & 0xffff) == usedSeen[q]) {
            if (Instant.now().isAfter(deadline)) throw new AssertionError("queue " + q + ": no used entry within " + within);
            java.util.concurrent.locks.LockSupport.parkNanos(200_000);   // polled against the deadline
        }
        long e = usedRing(q) + 4 + 8L * (usedSeen[q]++ % QUEUE_SIZE);
        return new Used(m.readU32(e), m.readU32(e + 4));
    }

    private long r(int off, int size) { return rig.mmio.read(common + off, size); }

    private void w(int off, int size, long v) { rig.mmio.write(common + off, size, v); }
}
