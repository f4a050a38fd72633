package dev.vmm.virtio.transport;

import dev.vmm.virtio.queue.SplitQueue.Ring;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.SplitQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.virtio.DeviceStatus.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The transport-independent half of a transport, driven as a non-PCI transport would (no config
 * space, no BAR): negotiation, queue setup, activation, signals, reset, refusal of a bad queue.
 */
class VirtioCommonConfigTest {
    private final Arena arena = Arena.ofConfined();
    private final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(1 << 20, 4096))));
    private final Device device = new Device();
    private final Recorder signals = new Recorder();
    private final VirtioCommonConfig common = new VirtioCommonConfig(device, memory, signals,
            System.getLogger(VirtioCommonConfigTest.class.getName()), "test-transport");

    /** One queue of up to 16 entries, VERSION_1 only. */
    static class Device implements VirtioDevice {
        final List<Long> activations = new ArrayList<>();
        final List<Integer> notifies = new ArrayList<>();
        int resets;
        VirtioInterrupt irq;

        @Override public VirtioDeviceType deviceType() { return VirtioDeviceType.ENTROPY; }
        @Override public long deviceFeatures() { return VirtioFeatures.VIRTIO_F_VERSION_1; }
        @Override public int queueCount() { return 1; }
        @Override public int queueMaxSize(int q) { return 16; }
        @Override public int configSize() { return 0; }
        @Override public long readConfig(int offset, int size) { return 0; }
        @Override public void writeConfig(int offset, int size, long value) { }
        @Override public void activate(GuestMemory m, long features, List<SplitQueue> queues, VirtioInterrupt interrupt) {
            activations.add(features);
            irq = interrupt;
        }
        @Override public void queueNotify(int q) { notifies.add(q); }
        @Override public void reset() { resets++; }
    }

    static final class Recorder implements VirtioCommonConfig.Signals {
        final List<Integer> used = new ArrayList<>();
        int config;
        int resets;
        @Override public void usedBuffer(int queue) { used.add(queue); }
        @Override public void configChange() { config++; }
        @Override public void reset() { resets++; }
    }

    @AfterEach
    void close() {
        arena.close();
    }

    private void negotiate() {
        common.writeStatus(ACKNOWLEDGE | DRIVER);
        common.setDeviceFeatureSelect(1);
        assertEquals(1, common.deviceFeatureWord());                       // VERSION_1 is bit 32
        common.setDriverFeatureSelect(1);
        common.writeDriverFeatureWord(1);
        common.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK, common.status());
    }

    private void setUpQueue(int size) {
        common.setQueueSelect(0);
        common.writeQueueSize(size);
        common.writeQueueAddress(Ring.DESC, true, false, 0x1000);
        common.writeQueueAddress(Ring.DRIVER, false, false, 0x2000);   // low half
        common.writeQueueAddress(Ring.DRIVER, false, true, 0);         // high half
        common.writeQueueAddress(Ring.DEVICE, true, false, 0x3000);
        common.writeQueueEnable(1);
    }

    @Test
    void driverOkActivatesTheDeviceAndItsSignalsReachTheTransportUntilReset() {
        negotiate();
        setUpQueue(8);
        assertEquals(0x2000, common.queueAddress(Ring.DRIVER));
        common.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertTrue(common.isActive());
        assertEquals(List.of(VirtioFeatures.VIRTIO_F_VERSION_1), device.activations);
        assertTrue(common.queue(0).isActivated());
        assertEquals(8, common.queue(0).size());

        common.queueNotify(0);
        assertEquals(List.of(0), device.notifies);
        VirtioInterrupt irq = device.irq;
        irq.signalUsedBuffer(0);
        irq.signalUsedBuffer(7);                                           // no such queue: dropped
        assertEquals(List.of(0), signals.used);
        irq.signalConfigChange();
        assertEquals(1, signals.config);
        assertEquals(1, common.configGeneration());

        common.writeStatus(0);
        assertFalse(common.isActive());
        assertEquals(1, device.resets);
        assertEquals(1, signals.resets);
        assertFalse(common.queue(0).isReady());
        irq.signalUsedBuffer(0);                                           // a thread that outlived the reset
        irq.deviceNeedsReset("late");
        assertEquals(List.of(0), signals.used);
        assertEquals(0, common.status() & DEVICE_NEEDS_RESET);
    }

    @Test
    void queueRegistersAreReadOnlyOutsideFeaturesOkToDriverOk() {
        common.writeStatus(ACKNOWLEDGE | DRIVER);
        setUpQueue(8);                                                     // before FEATURES_OK: ignored
        assertFalse(common.queue(0).isReady());
        assertEquals(0, common.queueAddress(Ring.DESC));
        common.setQueueSelect(5);                                          // no such queue
        assertNull(common.selectedQueue());
        assertEquals(0, common.queueAddress(Ring.DESC));
    }

    @Test
    void aRefusedQueueSizeEndsDriverOkInNeedsReset() {
        negotiate();
        setUpQueue(3);                                                     // not a power of two
        assertEquals(16, common.queue(0).size(), "the register keeps its value");
        common.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertFalse(common.isActive());
        assertTrue(device.activations.isEmpty());
        assertNotEquals(0, common.status() & DeviceStatus.DEVICE_NEEDS_RESET);
        assertEquals(1, signals.config);
    }
}
