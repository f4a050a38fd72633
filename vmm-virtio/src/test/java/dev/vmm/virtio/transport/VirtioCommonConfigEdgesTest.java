package dev.vmm.virtio.transport;

import static dev.vmm.virtio.DeviceStatus.ACKNOWLEDGE;
import static dev.vmm.virtio.DeviceStatus.DEVICE_NEEDS_RESET;
import static dev.vmm.virtio.DeviceStatus.DRIVER;
import static dev.vmm.virtio.DeviceStatus.DRIVER_OK;
import static dev.vmm.virtio.DeviceStatus.FEATURES_OK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.queue.SplitQueue.Ring;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Edges of the common configuration that PIT found unasserted (docs/testing.md): 32-bit halves
 * of the queue addresses, the refused-size register, DEVICE_NEEDS_RESET raised once by the device
 * with a single configuration interrupt, and signals for queue indexes just outside the range.
 */
class VirtioCommonConfigEdgesTest {
    private final Arena arena = Arena.ofConfined();
    private final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, arena.allocate(1 << 20, 4096))));
    private final VirtioCommonConfigTest.Device device = new VirtioCommonConfigTest.Device();
    private final VirtioCommonConfigTest.Recorder signals = new VirtioCommonConfigTest.Recorder();
    private final VirtioCommonConfig common = new VirtioCommonConfig(device, memory, signals,
            System.getLogger(VirtioCommonConfigEdgesTest.class.getName()), "edges");

    @AfterEach
    void close() {
        arena.close();
    }

    private void negotiate() {
        common.writeStatus(ACKNOWLEDGE | DRIVER);
        common.setDriverFeatureSelect(1);
        common.writeDriverFeatureWord(1);
        common.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        common.setQueueSelect(0);
    }

    @Test
    void thirtyTwoBitHalvesOfAQueueAddressComposeAndReplaceOnlyTheirHalf() {
        negotiate();
        for (Ring ring : Ring.values()) {
            common.writeQueueAddress(ring, false, false, 0x1234_5000L);
            common.writeQueueAddress(ring, false, true, 0x9);
            assertEquals(0x9_1234_5000L, common.queueAddress(ring), ring.name());
            common.writeQueueAddress(ring, false, false, 0xffff_f000L);   // low half only
            assertEquals(0x9_ffff_f000L, common.queueAddress(ring), ring.name());
            common.writeQueueAddress(ring, false, true, 0x2);             // high half only
            assertEquals(0x2_ffff_f000L, common.queueAddress(ring), ring.name());
        }
    }

    @Test
    void refusedSizesAreRememberedUntilAValidOne() {
        negotiate();
        common.writeQueueSize(0);
        assertEquals(0x1_0000, common.refusedSize(0), "0 is remembered as 65536, not as 'nothing refused'");
        common.writeQueueSize(17);                                          // above the maximum (16)
        assertEquals(17, common.refusedSize(0));
        common.writeQueueSize(6);                                           // not a power of two
        assertEquals(6, common.refusedSize(0));
        common.writeQueueSize(16);
        assertEquals(0, common.refusedSize(0));
        assertEquals(16, common.queue(0).size());
    }

    @Test
    void theDeviceRaisesNeedsResetOnceWithOneConfigurationInterrupt() {
        negotiate();
        common.writeQueueSize(8);
        common.writeQueueEnable(1);
        common.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assertTrue(common.isActive());
        VirtioInterrupt irq = device.irq;
        irq.deviceNeedsReset("first");
        assertEquals(1, signals.config, "the interrupt comes with the state change");
        irq.deviceNeedsReset("second");
        assertEquals(DEVICE_NEEDS_RESET, common.status() & DEVICE_NEEDS_RESET);
        assertEquals(1, signals.config, "one interrupt for the state change, none for the repeat");
        // Queue indexes: the last one reaches the transport, one past it and negative ones do not.
        irq.signalUsedBuffer(0);
        irq.signalUsedBuffer(1);
        irq.signalUsedBuffer(-1);
        assertEquals(List.of(0), signals.used);
    }

    @Test
    void aDeviceWithoutQueuesIsAccepted() {
        VirtioCommonConfigTest.Device none = new VirtioCommonConfigTest.Device() {
            @Override public int queueCount() { return 0; }
        };
        VirtioCommonConfig c = new VirtioCommonConfig(none, memory, signals, System.getLogger("x"), "none");
        assertEquals(0, c.queueCount());
        assertEquals(List.of(), c.queues());
    }
}
