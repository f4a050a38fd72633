package dev.vmm.virtio.pci;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.ActivationException;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.MigratableDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.DescriptorChain;
import dev.vmm.virtio.queue.QueueException;
import dev.vmm.virtio.queue.SplitQueue;
import dev.vmm.virtio.testing.SplitRingDriver;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Save/restore of the virtio-pci transport: a driver sets a device up (MSI-X vectors, features,
 * two queues), the device consumes chains (completing some, holding one), the state goes through
 * its byte format into a second, freshly built transport over a copy of guest RAM, and the second
 * one continues exactly: same registers for the driver, the device re-activated at the same ring
 * positions with the held chain given back, MSI-X routes re-announced.
 */
class VirtioPciStateTest {
    static final long BAR_ADDRESS = 0xE000_0000L;
    static final long FEATURES = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX;

    /** Pops what it is told, completes all but the last popped chain of queue 0, which it holds. */
    static final class HoldingDevice implements MigratableDevice {
        final List<long[]> activations = new ArrayList<>();
        final List<Integer> notifies = new ArrayList<>();
        List<SplitQueue> queues;
        VirtioInterrupt irq;
        byte[] state = {42};
        int quiesces;
        byte[] loaded;
        int held;

        @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.ENTROPY; }
        @Override public long deviceFeatures() { return FEATURES; }
        @Override public int queueCount() { return 2; }
        @Override public int queueMaxSize(int q) { return 64; }
        @Override public int configSize() { return 0; }
        @Override public long readConfig(int offset, int size) { return 0; }
        @Override public void writeConfig(int offset, int size, long value) { }

        @Override
        public void activate(GuestMemory memory, long features, List<SplitQueue> qs, VirtioInterrupt irq) throws ActivationException {
            queues = qs;
            this.irq = irq;
            activations.add(new long[] {features, qs.get(0).nextAvail(), qs.get(0).nextUsed(), qs.get(1).nextAvail()});
        }

        /** Pops {@code n} chains of queue 0; completes all but the last, which is held. */
        void serve(int n) throws QueueException {
            DescriptorChain c = new DescriptorChain(4);
            for (int i = 0; i < n; i++) {
                assertTrue(queues.get(0).pop(c));
                if (i < n - 1) queues.get(0).addUsed(c.head(), 0);
            }
            held = 1;
        }

        @Override public void queueNotify(int q) { notifies.add(q); }
        @Override public void reset() { queues = null; }
        @Override public int stateVersion() { return 1; }

        @Override
        public int[] quiesce() {
            quiesces++;
            int[] r = {held, 0};
            held = 0;
            reset();
            return r;
        }

        @Override public byte[] saveState() { return state.clone(); }

        @Override
        public void loadState(int version, byte[] s) {
            if (s.length != 1) throw new IllegalArgumentException("bad fake state");
            loaded = s;
        }
    }

    static final class Rig {
        final PciRig pci;
        final HoldingDevice dev = new HoldingDevice();
        final VirtioPciDevice transport;
        final List<String> routes = new ArrayList<>();

        Rig() {
            pci = new PciRig();
            transport = new VirtioPciDevice(dev, pci.memory, (v, a, d) -> pci.msis.add(v + "@" + Long.toHexString(a)),
                    (v, a, d, masked) -> routes.add(v + "@" + Long.toHexString(a) + (masked ? " masked" : "")));
            pci.root.attach(PciRig.SLOT + 1, 0, transport);
        }

        int slot() { return PciRig.SLOT + 1; }

        int cfgRead(int reg, int size) {
            pci.pio.write(0xCF8, 4, (0x8000_0000L | slot() << 11 | (reg & 0xFC)));
            return (int) pci.pio.read(0xCFC + (reg & 3), size);
        }

        void cfgWrite(int reg, int size, int value) {
            pci.pio.write(0xCF8, 4, (0x8000_0000L | slot() << 11 | (reg & 0xFC)));
            pci.pio.write(0xCFC + (reg & 3), size, value & 0xFFFF_FFFFL);
        }
    }

    private static byte[] encode(VirtioPciState s) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(b);
        s.write(o);
        o.flush();
        return b.toByteArray();
    }

    private static VirtioPciState decode(byte[] b) throws IOException {
        return VirtioPciState.read(new DataInputStream(new ByteArrayInputStream(b)));
    }

    /** Maps the BAR, enables MSI-X, negotiates and sets up both queues; returns the ring drivers. */
    private static SplitRingDriver[] bringUp(Rig r) {
        r.cfgWrite(0x10 + 4 * VirtioPciDevice.BAR, 4, (int) BAR_ADDRESS);
        r.cfgWrite(0x14 + 4 * VirtioPciDevice.BAR, 4, 0);
        r.cfgWrite(0x04, 2, 0x6);
        assertTrue(r.transport.notifyAddress(0) != dev.vmm.chipset.pci.PciBar.UNMAPPED);
        long table = BAR_ADDRESS + r.transport.layout().msixTableOffset();
        for (int v = 0; v < 3; v++) {
            r.pci.mmio.write(table + 16L * v, 4, 0xFEE0_0000L + v * 0x1000);
            r.pci.mmio.write(table + 16L * v + 8, 4, 0x30 + v);
            r.pci.mmio.write(table + 16L * v + 12, 4, v == 2 ? 1 : 0);
        }
        int msixCap = r.transport.configSpace().capabilities().stream().filter(c -> c.id() == 0x11).findFirst().orElseThrow().offset();
        r.cfgWrite(msixCap + 2, 2, 0x8000);
        long common = BAR_ADDRESS + VirtioPciLayout.COMMON_OFFSET;
        var mmio = r.pci.mmio;
        mmio.write(common + VirtioPciDevice.DEVICE_STATUS, 1, 1);
        mmio.write(common + VirtioPciDevice.DEVICE_STATUS, 1, 3);
        mmio.write(common + VirtioPciDevice.DRIVER_FEATURE_SELECT, 4, 0);
        mmio.write(common + VirtioPciDevice.DRIVER_FEATURE, 4, FEATURES & 0xFFFF_FFFFL);
        mmio.write(common + VirtioPciDevice.DRIVER_FEATURE_SELECT, 4, 1);
        mmio.write(common + VirtioPciDevice.DRIVER_FEATURE, 4, FEATURES >>> 32);
        mmio.write(common + VirtioPciDevice.DEVICE_STATUS, 1, 11);
        mmio.write(common + VirtioPciDevice.CONFIG_MSIX_VECTOR, 2, 2);
        SplitRingDriver[] d = new SplitRingDriver[2];
        for (int q = 0; q < 2; q++) {
            d[q] = new SplitRingDriver(r.pci.memory, q == 0 ? 32 : 16, 0x10000L * (q + 1));
            mmio.write(common + VirtioPciDevice.QUEUE_SELECT, 2, q);
            mmio.write(common + VirtioPciDevice.QUEUE_SIZE, 2, d[q].size);
            mmio.write(common + VirtioPciDevice.QUEUE_MSIX_VECTOR, 2, q);
            mmio.write(common + VirtioPciDevice.QUEUE_DESC, 8, d[q].desc);
            mmio.write(common + VirtioPciDevice.QUEUE_DRIVER, 8, d[q].avail);
            mmio.write(common + VirtioPciDevice.QUEUE_DEVICE, 8, d[q].used);
            mmio.write(common + VirtioPciDevice.QUEUE_ENABLE, 2, 1);
        }
        mmio.write(common + VirtioPciDevice.QUEUE_SELECT, 2, 1);
        mmio.write(common + VirtioPciDevice.DEVICE_STATUS, 1, 15);
        assertTrue(r.transport.isActivated());
        return d;
    }

    @Test
    void stateRoundTripContinuesAtTheSameRingPositions() throws Exception {
        Rig a = new Rig();
        try (a.pci) {
            SplitRingDriver[] d = bringUp(a);
            for (int i = 0; i < 5; i++) d[0].add(new SplitRingDriver.Buf(0x40000 + 64L * i, 64, true));
            a.dev.serve(5);                                     // 4 completed, the 5th held
            VirtioPciState saved = a.transport.saveState();
            assertEquals(1, a.dev.quiesces);
            assertFalse(a.transport.isActivated());
            assertEquals(4, saved.queues().get(0).nextAvail(), "the held chain is given back");
            assertEquals(4, saved.queues().get(0).nextUsed());
            assertEquals(0, saved.queues().get(1).nextAvail());
            assertTrue(saved.active());
            assertEquals(15, saved.status());
            assertEquals(FEATURES, saved.driverFeatures());
            assertEquals(2, saved.configVector());
            assertEquals(1, saved.queueSelect());
            assertEquals(List.of(0, 1), saved.queues().stream().map(VirtioPciState.Queue::vector).toList());
            byte[] cfg = a.transport.configSpace().saveBytes();
            byte[] msix = a.transport.msixTable().saveState();
            byte[] wire = encode(saved);

            Rig b = new Rig();
            try (b.pci) {
                b.pci.memory.write(0, readAll(a.pci.memory));  // RAM is migrated separately
                b.transport.configSpace().restoreBytes(cfg);
                b.transport.function().refreshBars();
                b.transport.msixTable().restoreState(msix);
                assertEquals(List.of("0@fee00000", "1@fee01000", "2@fee02000 masked"), b.routes, "MSI routes re-announced");
                b.transport.loadState(decode(wire));
                assertArrayEquals(new byte[] {42}, b.dev.loaded);
                assertFalse(b.transport.isActivated(), "starts only with the machine");
                assertTrue(b.transport.startAfterStateChange());
                assertEquals(1, b.dev.activations.size());
                assertArrayEquals(new long[] {FEATURES, 4, 4, 0}, b.dev.activations.get(0));
                assertEquals(List.of(0, 1), b.dev.notifies, "every queue looked at once after the restore");
                // The held chain is popped again, then the driver sees its completion.
                DescriptorChain c = new DescriptorChain(4);
                assertTrue(b.dev.queues.get(0).pop(c));
                assertEquals(4 % 32, c.head());
                assertFalse(b.dev.queues.get(0).pop(c));
                // The driver's view of the registers is the same on both sides.
                long common = BAR_ADDRESS + VirtioPciLayout.COMMON_OFFSET;
                assertEquals(b.transport.notifyAddress(1), a.transport.notifyAddress(1));
                for (int off : new int[] {VirtioPciDevice.DEVICE_STATUS, VirtioPciDevice.CONFIG_MSIX_VECTOR, VirtioPciDevice.QUEUE_SELECT,
                        VirtioPciDevice.QUEUE_SIZE, VirtioPciDevice.QUEUE_MSIX_VECTOR, VirtioPciDevice.QUEUE_ENABLE}) {
                    int w = off == VirtioPciDevice.DEVICE_STATUS ? 1 : 2;
                    assertEquals(a.pci.mmio.read(common + off, w), b.pci.mmio.read(common + off, w), "register 0x" + Integer.toHexString(off));
                }
                assertEquals(a.pci.mmio.read(common + VirtioPciDevice.QUEUE_DESC, 8), b.pci.mmio.read(common + VirtioPciDevice.QUEUE_DESC, 8));
                assertArrayEquals(a.transport.msixTable().saveState(), b.transport.msixTable().saveState());
                // A queue interrupt goes through the restored vector.
                b.dev.irq.signalUsedBuffer(0);
                assertEquals(List.of("0@fee00000"), b.pci.msis);
            }
            // The source continues too.
            assertTrue(a.transport.startAfterStateChange());
            assertArrayEquals(new long[] {FEATURES, 4, 4, 0}, a.dev.activations.get(1));
        }
    }

    private static byte[] readAll(GuestMemory m) {
        byte[] b = new byte[(int) PciRig.RAM_SIZE];
        m.read(0, b, 0, b.length);
        return b;
    }

    @Test
    void aDeviceNotYetLiveIsRestoredMidSetup() throws Exception {
        Rig a = new Rig();
        try (a.pci) {
            a.cfgWrite(0x10 + 4 * VirtioPciDevice.BAR, 4, (int) BAR_ADDRESS);
            a.cfgWrite(0x04, 2, 0x2);
            long common = BAR_ADDRESS + VirtioPciLayout.COMMON_OFFSET;
            a.pci.mmio.write(common + VirtioPciDevice.DEVICE_STATUS, 1, 3);
            VirtioPciState s = decode(encode(a.transport.saveState()));
            assertEquals(0, a.dev.quiesces, "nothing to quiesce");
            assertFalse(s.active());
            Rig b = new Rig();
            try (b.pci) {
                b.transport.configSpace().restoreBytes(a.transport.configSpace().saveBytes());
                b.transport.function().refreshBars();
                b.transport.loadState(s);
                assertFalse(b.transport.startAfterStateChange());
                assertEquals(3, b.pci.mmio.read(common + VirtioPciDevice.DEVICE_STATUS, 1));
            }
        }
    }

    @Test
    void stateThatDoesNotFitIsRefusedWithItsReason() throws Exception {
        Rig a = new Rig();
        try (a.pci) {
            bringUp(a);
            VirtioPciState s = a.transport.saveState();
            Rig b = new Rig();
            try (b.pci) {
                VirtioPciState otherType = new VirtioPciState(VirtioDeviceType.BLOCK.id(), s.offeredFeatures(), s.status(), s.driverFeatures(),
                        0, 0, 0, s.configVector(), 0, 0, true, s.queues(), 1, s.deviceState());
                assertTrue(assertThrows(IllegalArgumentException.class, () -> b.transport.loadState(otherType)).getMessage().contains("blk"));
                VirtioPciState oneQueue = new VirtioPciState(s.deviceType(), s.offeredFeatures(), s.status(), s.driverFeatures(),
                        0, 0, 0, s.configVector(), 0, 0, true, s.queues().subList(0, 1), 1, s.deviceState());
                assertTrue(assertThrows(IllegalArgumentException.class, () -> b.transport.loadState(oneQueue)).getMessage().contains("1 queues"));
                VirtioPciState newer = new VirtioPciState(s.deviceType(), s.offeredFeatures(), s.status(), s.driverFeatures(),
                        0, 0, 0, s.configVector(), 0, 0, true, s.queues(), 2, s.deviceState());
                assertTrue(assertThrows(IllegalArgumentException.class, () -> b.transport.loadState(newer)).getMessage().contains("version 2"));
                VirtioPciState unoffered = new VirtioPciState(s.deviceType(), s.offeredFeatures(), s.status(), s.driverFeatures() | (1L << 40),
                        0, 0, 0, s.configVector(), 0, 0, true, s.queues(), 1, s.deviceState());
                assertTrue(assertThrows(IllegalArgumentException.class, () -> b.transport.loadState(unoffered)).getMessage().contains("not offered"));
                VirtioPciState badDevice = new VirtioPciState(s.deviceType(), s.offeredFeatures(), s.status(), s.driverFeatures(),
                        0, 0, 0, s.configVector(), 0, 0, true, s.queues(), 1, new byte[3]);
                assertTrue(assertThrows(IllegalArgumentException.class, () -> b.transport.loadState(badDevice)).getMessage().contains("bad fake state"));
                assertFalse(b.transport.isActivated());
            }
            // Truncated and corrupt bytes.
            byte[] wire = encode(s);
            assertThrows(IOException.class, () -> decode(java.util.Arrays.copyOf(wire, wire.length - 3)));
            byte[] badSize = wire.clone();
            int firstQueue = 4 + 8 + 1 + 8 + 4 + 4 + 2 + 2 + 4 + 1 + 1 + 2;
            badSize[firstQueue] = 0;
            badSize[firstQueue + 1] = 3;                        // queue size 3
            assertTrue(assertThrows(IOException.class, () -> decode(badSize)).getMessage().contains("queue size 3"));
            // Another function's config space.
            byte[] cfg = a.transport.configSpace().saveBytes();
            cfg[2] ^= 1;
            assertThrows(IllegalArgumentException.class, () -> a.transport.configSpace().restoreBytes(cfg));
            assertThrows(IllegalArgumentException.class, () -> a.transport.msixTable().restoreState(new byte[5]));
        }
    }

    @Test
    void statusRestoreRefusesImpossibleBytes() {
        DeviceStatus st = new DeviceStatus(FEATURES);
        assertThrows(IllegalArgumentException.class, () -> st.restore(DeviceStatus.DRIVER_OK, FEATURES));
        assertThrows(IllegalArgumentException.class, () -> st.restore(0x10, 0));
        st.restore(15, FEATURES);
        assertEquals(FEATURES, st.negotiatedFeatures());
    }
}
