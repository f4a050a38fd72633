package dev.vmm.virtio.pci;

import dev.vmm.virtio.queue.SplitQueue.Ring;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.VirtioDeviceType;
import dev.vmm.virtio.VirtioFeatures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.vmm.virtio.pci.VirtioPciDevice.*;
import static org.assertj.core.api.Assertions.assertThat;

/** The transport driven through config space and its BAR as Linux's virtio_pci_modern driver does. */
class VirtioPciDeviceTest {
    static final long BAR_ADDRESS = 0x10_0000_0000L;            // above 4 GiB: exercises the 64-bit BAR
    static final long MSI_ADDRESS = 0xFEE0_0000L;
    static final long DESC0 = 0x10000, AVAIL0 = 0x11000, USED0 = 0x12000;
    static final long DESC1 = 0x20000, AVAIL1 = 0x21000, USED1 = 0x22000;
    static final long NEGOTIATED = VirtioFeatures.VIRTIO_F_VERSION_1 | VirtioFeatures.VIRTIO_F_EVENT_IDX
            | FakeVirtioDevice.FEATURE_A;

    PciRig rig;
    FakeVirtioDevice device;
    VirtioPciDevice transport;
    ModernDriver driver;

    @BeforeEach
    void setUp() {
        rig = new PciRig();
        device = rig.device;
        transport = rig.transport;
        driver = new ModernDriver(rig).probe();
        rig.mapBar(BAR_ADDRESS);
        driver.map();
    }

    @AfterEach
    void tearDown() {
        rig.close();
    }

    /** The whole Linux probe sequence up to DRIVER_OK, with MSI-X vectors 0 (config), 1 and 2 (queues). */
    void bringUp() {
        driver.enableMsix(true, false);
        for (int v = 0; v < 3; v++) driver.programVector(v, MSI_ADDRESS, 0x40 + v, false);
        assertThat(driver.negotiate(NEGOTIATED)).isTrue();
        driver.write(CONFIG_MSIX_VECTOR, 2, 0);
        driver.setupQueue(0, 128, 1, DESC0, AVAIL0, USED0);
        driver.setupQueue(1, 64, 2, DESC1, AVAIL1, USED1);
        driver.addStatus(DeviceStatus.DRIVER_OK);
    }

    @Test
    void identifiesAsModernVirtioFunction() {
        assertThat(rig.configRead(0x00, 2)).isEqualTo(0x1af4);
        assertThat(rig.configRead(0x02, 2)).isEqualTo(0x1041);   // 0x1040 + net
        assertThat(rig.configRead(0x08, 1)).isEqualTo(1);        // revision 1: non-transitional
        assertThat(rig.configRead(0x08, 4) >>> 8).isEqualTo(0x020000);
        assertThat(rig.configRead(0x2C, 2)).isEqualTo(0x1af4);
        assertThat(rig.configRead(0x2E, 2)).isEqualTo(1);
        assertThat(rig.configRead(0x3D, 1)).isEqualTo(1);        // INTA#
        assertThat(rig.configRead(0x10 + 4 * BAR, 4) & 0xF).isEqualTo(0x4);   // 64-bit memory, not prefetchable
        assertThat(VirtioPciDevice.classCode(VirtioDeviceType.BLOCK)).isEqualTo(0x010000);
        assertThat(VirtioPciDevice.classCode(VirtioDeviceType.ENTROPY)).isEqualTo(0xFF0000);
    }

    @Test
    void barSizingReportsTheLayoutSize() {
        int reg = 0x10 + 4 * BAR;
        rig.configWrite(0x04, 2, 0);
        rig.configWrite(reg, 4, -1);
        rig.configWrite(reg + 4, 4, -1);
        long mask = (rig.configRead(reg + 4, 4) & 0xFFFF_FFFFL) << 32 | (rig.configRead(reg, 4) & 0xFFFF_FFF0L);
        assertThat(Long.lowestOneBit(mask)).isEqualTo(transport.layout().barSize()).isEqualTo(0x8000);
    }

    @Test
    void capabilitiesDescribeTheBarLayout() {
        var caps = driver.caps;
        assertThat(caps).containsOnlyKeys(1, 2, 3, 4, 5);
        assertThat(caps.values()).allSatisfy(c -> assertThat(c.bar()).isIn(BAR, 0));
        var common = caps.get(VirtioPciCapability.CfgType.COMMON.code());
        assertThat(common.bar()).isEqualTo(BAR);
        assertThat(common.length()).isGreaterThanOrEqualTo(0x38);
        assertThat(common.capLen()).isEqualTo(16);
        var notify = caps.get(VirtioPciCapability.CfgType.NOTIFY.code());
        assertThat(notify.capLen()).isEqualTo(20);
        assertThat(driver.notifyMultiplier).isEqualTo(4);
        // Every queue's notify address (notify_off × multiplier + 2 bytes) lies inside the region.
        assertThat(notify.length()).isGreaterThanOrEqualTo(4L * 1 + 2);
        assertThat(caps.get(VirtioPciCapability.CfgType.ISR.code()).length()).isGreaterThanOrEqualTo(1);
        assertThat(caps.get(VirtioPciCapability.CfgType.DEVICE.code()).length()).isEqualTo(8);
        assertThat(caps.get(VirtioPciCapability.CfgType.PCI.code()).capLen()).isEqualTo(20);
        // Structures and the MSI-X table/PBA do not overlap and fit the BAR.
        List<long[]> ranges = new ArrayList<>();
        for (int t = 1; t <= 4; t++) ranges.add(new long[] {caps.get(t).offset(), caps.get(t).length()});
        ranges.add(new long[] {driver.msixTable() - BAR_ADDRESS, 16L * transport.msixTable().vectors()});
        ranges.add(new long[] {driver.msixPba() - BAR_ADDRESS, 8});
        for (int i = 0; i < ranges.size(); i++) {
            long[] a = ranges.get(i);
            assertThat(a[0] + a[1]).isLessThanOrEqualTo(transport.layout().barSize());
            for (int j = i + 1; j < ranges.size(); j++) {
                long[] b = ranges.get(j);
                assertThat(a[0] + a[1] <= b[0] || b[0] + b[1] <= a[0]).as("ranges %d and %d overlap", i, j).isTrue();
            }
        }
        assertThat(driver.msixCap).isPositive();
        assertThat(rig.configRead(driver.msixCap + 2, 2) & 0x7FF).isEqualTo(2);   // 3 vectors: config + 2 queues
    }

    @Test
    void linuxProbeSequenceActivatesTheDeviceWithItsQueues() {
        assertThat(driver.deviceFeatures()).isEqualTo(FakeVirtioDevice.FEATURES);
        assertThat(driver.read(NUM_QUEUES, 2)).isEqualTo(2);
        driver.selectQueue(0);
        assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(256);
        driver.selectQueue(1);
        assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(64);

        bringUp();

        assertThat(driver.status()).isEqualTo(1 | 2 | 8 | 4);
        assertThat(transport.isActivated()).isTrue();
        assertThat(device.activations).hasSize(1);
        var a = device.activations.get(0);
        assertThat(a.features()).isEqualTo(NEGOTIATED);
        assertThat(a.queues()).containsExactly(
                new FakeVirtioDevice.QueueState(true, true, 128, DESC0, AVAIL0, USED0, true),
                new FakeVirtioDevice.QueueState(true, true, 64, DESC1, AVAIL1, USED1, true));
        // Registers read back as written (64-bit fields both as halves and whole).
        driver.selectQueue(0);
        assertThat(driver.read64(QUEUE_DESC)).isEqualTo(DESC0);
        assertThat(driver.read(QUEUE_DRIVER, 8)).isEqualTo(AVAIL0);
        assertThat(driver.read(QUEUE_MSIX_VECTOR, 2)).isEqualTo(1);
        assertThat(driver.read(QUEUE_ENABLE, 2)).isEqualTo(1);
        assertThat(driver.read(CONFIG_MSIX_VECTOR, 2)).isEqualTo(0);
        driver.write(DRIVER_FEATURE_SELECT, 4, 1);
        assertThat(driver.read(DRIVER_FEATURE, 4)).isEqualTo(1);   // VERSION_1 is bit 32
    }

    @Test
    void unreadyQueueIsPassedInactive() {
        driver.enableMsix(true, false);
        driver.negotiate(NEGOTIATED);
        driver.setupQueue(0, 128, 1, DESC0, AVAIL0, USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        var q = device.activations.get(0).queues();
        assertThat(q.get(0).activated()).isTrue();
        assertThat(q.get(1).ready()).isFalse();
        assertThat(q.get(1).activated()).isFalse();
    }

    @Test
    void featuresOkIsRefusedWithoutVersion1() {
        assertThat(driver.negotiate(FakeVirtioDevice.FEATURE_A)).isFalse();
        assertThat(driver.status()).isEqualTo(1 | 2);
        // Nor for a feature the device does not offer.
        assertThat(driver.negotiate(VirtioFeatures.VIRTIO_F_VERSION_1 | 1L << 7)).isFalse();
        // Queue registers are not writable without FEATURES_OK.
        driver.selectQueue(0);
        driver.write(QUEUE_SIZE, 2, 16);
        driver.write64(QUEUE_DESC, DESC0);
        assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(256);
        assertThat(driver.read64(QUEUE_DESC)).isZero();
        // DRIVER_OK is ignored without FEATURES_OK.
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(transport.isActivated()).isFalse();
        assertThat(device.activations).isEmpty();
    }

    @Test
    void notifyWriteReachesTheDevice() {
        driver.kick(1);                                           // before DRIVER_OK: dropped
        assertThat(device.notifies).isEmpty();
        bringUp();
        driver.kick(1);
        driver.kick(0);
        rig.mmio.write(driver.notifyBase + 4, 4, 1);              // 32-bit write to queue 1's register
        rig.mmio.write(driver.notifyBase + 2, 2, 0);              // not a register: ignored
        rig.mmio.write(driver.notifyBase + 8, 2, 2);              // no queue 2: ignored
        assertThat(device.notifies).containsExactly(1, 0, 1);
        transport.queueNotified(0);                               // the VMM's ioeventfd handler
        transport.queueNotified(5);
        transport.queueNotified(-1);
        assertThat(device.notifies).containsExactly(1, 0, 1, 0);
        assertThat(driver.notifyAddress(1)).isEqualTo(transport.notifyAddress(1));
    }

    @Test
    void msixInterruptsHonourMaskingAndPendingBits() {
        bringUp();
        device.interrupt.signalUsedBuffer(0);
        assertThat(rig.msis).containsExactly("1@fee00000=41");
        driver.maskVector(2, true);
        device.interrupt.signalUsedBuffer(1);
        assertThat(rig.msis).hasSize(1);
        assertThat(driver.pendingBits()).isEqualTo(1L << 2);
        driver.maskVector(2, false);
        assertThat(rig.msis).containsExactly("1@fee00000=41", "2@fee00000=42");
        assertThat(driver.pendingBits()).isZero();
        // Function mask works the same way.
        driver.enableMsix(true, true);
        device.interrupt.signalConfigChange();
        assertThat(rig.msis).hasSize(2);
        driver.enableMsix(true, false);
        assertThat(rig.msis).last().isEqualTo("0@fee00000=40");
        // No INTx or ISR while MSI-X is in use.
        assertThat(transport.peekIsr()).isZero();
        assertThat(rig.intxAsserted()).isFalse();
    }

    @Test
    void noVectorWithMsixEnabledMeansNoInterrupt() {
        driver.enableMsix(true, false);
        driver.negotiate(NEGOTIATED);
        driver.setupQueue(0, 128, NO_VECTOR, DESC0, AVAIL0, USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        device.interrupt.signalUsedBuffer(0);
        device.interrupt.signalConfigChange();
        assertThat(rig.msis).isEmpty();
        assertThat(rig.intxAsserted()).isFalse();
        assertThat(transport.peekIsr()).isZero();
    }

    @Test
    void intxWithIsrReadToClear() {
        driver.negotiate(NEGOTIATED);
        driver.setupQueue(0, 128, NO_VECTOR, DESC0, AVAIL0, USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(rig.intxAsserted()).isFalse();

        device.interrupt.signalUsedBuffer(0);
        assertThat(rig.intxAsserted()).isTrue();
        assertThat(rig.configRead(0x06, 2) & 0x8).isEqualTo(0x8);   // PCI status: interrupt pending
        assertThat(driver.readIsr()).isEqualTo(ISR_QUEUE);
        assertThat(rig.intxAsserted()).isFalse();
        assertThat(driver.readIsr()).isZero();

        int generation = (int) driver.read(CONFIG_GENERATION, 1);
        device.interrupt.signalConfigChange();
        device.interrupt.signalUsedBuffer(0);
        assertThat(driver.read(CONFIG_GENERATION, 1)).isEqualTo((generation + 1) & 0xFF);
        assertThat(rig.intxAsserted()).isTrue();
        assertThat(driver.readIsr()).isEqualTo(ISR_QUEUE | ISR_CONFIG);
        assertThat(rig.intxAsserted()).isFalse();
        assertThat(rig.msis).isEmpty();
    }

    @Test
    void msixDisabledFallsBackToIntxEvenWithVectorsSet() {
        bringUp();
        driver.enableMsix(false, false);
        device.interrupt.signalUsedBuffer(1);
        assertThat(rig.msis).isEmpty();
        assertThat(rig.intxAsserted()).isTrue();
        assertThat(driver.readIsr()).isEqualTo(ISR_QUEUE);
    }

    @Test
    void deviceConfigIsReadAndWrittenThroughTheBar() {
        assertThat(rig.mmio.read(driver.deviceCfg, 4)).isEqualTo(0x04030201L);
        assertThat(rig.mmio.read(driver.deviceCfg + 4, 2)).isEqualTo(0x0605L);
        assertThat(rig.mmio.read(driver.deviceCfg, 8)).isEqualTo(0x0807060504030201L);
        rig.mmio.write(driver.deviceCfg + 2, 1, 0xAB);
        assertThat(device.config[2]).isEqualTo((byte) 0xAB);
        assertThat(rig.mmio.read(driver.deviceCfg + 6, 4)).isZero();   // past the end of the device config
        rig.mmio.write(driver.deviceCfg + 6, 4, -1);
        assertThat(device.config[6]).isEqualTo((byte) 7);
    }

    @Test
    void pciCfgWindowReachesTheBar() {
        int cap = driver.caps.get(VirtioPciCapability.CfgType.PCI.code()).at();
        rig.configWrite(cap + VirtioPciCapability.BAR, 1, BAR);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, NUM_QUEUES);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 2);
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 4)).isEqualTo(2);
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 2)).isEqualTo(2);

        // Write device_feature_select = 1 through the window, then read device_feature through it.
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, DEVICE_FEATURE_SELECT);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 4);
        rig.configWrite(cap + VirtioPciCapability.PCI_CFG_DATA, 4, 1);
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isEqualTo(1);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, DEVICE_FEATURE);
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 4)).isEqualTo(1);   // VERSION_1 = bit 32

        // Device config through the window, one byte.
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, (int) VirtioPciLayout.DEVICE_OFFSET + 3);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 1);
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 1)).isEqualTo(4);

        // Window onto another BAR, a bad length, or a misaligned offset: ignored.
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, DEVICE_FEATURE_SELECT);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 4);
        rig.configWrite(cap + VirtioPciCapability.BAR, 1, 0);
        rig.configWrite(cap + VirtioPciCapability.PCI_CFG_DATA, 4, 0);
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isEqualTo(1);
        rig.configWrite(cap + VirtioPciCapability.BAR, 1, BAR);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 3);
        rig.configWrite(cap + VirtioPciCapability.PCI_CFG_DATA, 4, 0);
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isEqualTo(1);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, 2);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 4);
        rig.configWrite(cap + VirtioPciCapability.PCI_CFG_DATA, 4, 0);
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isEqualTo(1);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, (int) VirtioPciLayout.DEVICE_OFFSET + 1);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 2);   // offset not a multiple of length
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 4)).isZero();
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 4);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, 0x7FFF_FFFC);
        assertThat(rig.configRead(cap + VirtioPciCapability.PCI_CFG_DATA, 4)).isZero();
    }

    @Test
    void pciCfgWindowWorksWhileTheBarIsUnmapped() {
        rig.configWrite(0x04, 2, 0);                              // memory decoding off (SeaBIOS's case for high BARs)
        int cap = driver.caps.get(VirtioPciCapability.CfgType.PCI.code()).at();
        rig.configWrite(cap + VirtioPciCapability.BAR, 1, BAR);
        rig.configWrite(cap + VirtioPciCapability.OFFSET, 4, DEVICE_STATUS);
        rig.configWrite(cap + VirtioPciCapability.LENGTH, 4, 1);
        rig.configWrite(cap + VirtioPciCapability.PCI_CFG_DATA, 1, DeviceStatus.ACKNOWLEDGE);
        assertThat(transport.deviceStatus()).isEqualTo(DeviceStatus.ACKNOWLEDGE);
    }

    @Test
    void malformedQueueSetsNeedsResetAndSignalsConfigChange() {
        driver.enableMsix(true, false);
        driver.programVector(0, MSI_ADDRESS, 0x40, false);
        driver.negotiate(NEGOTIATED);
        driver.write(CONFIG_MSIX_VECTOR, 2, 0);
        driver.setupQueue(0, 128, NO_VECTOR, DESC0, AVAIL0, USED0);
        driver.setupQueue(1, 64, NO_VECTOR, PciRig.RAM_SIZE - 256, AVAIL1, USED1);   // descriptor table runs off RAM
        driver.addStatus(DeviceStatus.DRIVER_OK);

        assertThat(driver.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(transport.isActivated()).isFalse();
        assertThat(device.activations).isEmpty();
        assertThat(rig.msis).containsExactly("0@fee00000=40");

        // The driver resets and tries again with a good ring: the device comes up.
        driver.negotiate(NEGOTIATED);
        driver.setupQueue(0, 128, NO_VECTOR, DESC0, AVAIL0, USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(driver.status()).isEqualTo(0xF);
        assertThat(device.activations).hasSize(1);
    }

    @Test
    void refusedActivationSetsNeedsResetWithIntxConfigInterrupt() {
        device.refuseActivation = "backend gone";
        driver.negotiate(NEGOTIATED);
        driver.setupQueue(0, 128, NO_VECTOR, DESC0, AVAIL0, USED0);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(driver.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(rig.intxAsserted()).isTrue();
        assertThat(driver.readIsr()).isEqualTo(ISR_CONFIG);
        // Further progress is refused until a reset.
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(driver.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
    }

    @Test
    void deviceReportedErrorSetsNeedsResetOnceAndStaleActivationsAreIgnored() {
        bringUp();
        var interrupt = device.interrupt;
        interrupt.deviceNeedsReset("queue 0: head 300 out of range");
        interrupt.deviceNeedsReset("again");
        assertThat(driver.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(rig.msis).containsExactly("0@fee00000=40");    // one config interrupt

        driver.reset();
        interrupt.deviceNeedsReset("late, from before the reset");
        interrupt.signalUsedBuffer(0);
        assertThat(driver.status()).isZero();
        assertThat(rig.msis).hasSize(1);
        assertThat(transport.peekIsr()).isZero();
    }

    @Test
    void resetReturnsEverythingToPowerOn() {
        bringUp();
        driver.write(DEVICE_FEATURE_SELECT, 4, 1);
        driver.selectQueue(1);
        driver.reset();

        assertThat(device.resets).isGreaterThanOrEqualTo(1);
        assertThat(transport.isActivated()).isFalse();
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isZero();
        assertThat(driver.read(QUEUE_SELECT, 2)).isZero();
        assertThat(driver.read(CONFIG_MSIX_VECTOR, 2)).isEqualTo(NO_VECTOR);
        for (int q = 0; q < 2; q++) {
            driver.selectQueue(q);
            assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(q == 0 ? 256 : 64);
            assertThat(driver.read(QUEUE_ENABLE, 2)).isZero();
            assertThat(driver.read(QUEUE_MSIX_VECTOR, 2)).isEqualTo(NO_VECTOR);
            assertThat(driver.read64(QUEUE_DESC)).isZero();
            assertThat(driver.read64(QUEUE_DRIVER)).isZero();
            assertThat(driver.read64(QUEUE_DEVICE)).isZero();
        }
        assertThat(transport.queues()).allSatisfy(q -> assertThat(q.isActivated()).isFalse());
        driver.kick(0);
        assertThat(device.notifies).isEmpty();
        // And it comes up again.
        bringUp();
        assertThat(device.activations).hasSize(2);
    }

    @Test
    void failedStopsTheDevice() {
        bringUp();
        int resets = device.resets;
        driver.addStatus(DeviceStatus.FAILED);
        assertThat(device.resets).isEqualTo(resets + 1);
        assertThat(transport.isActivated()).isFalse();
        driver.kick(0);
        assertThat(device.notifies).isEmpty();
    }

    @Test
    void queueRegistersAreFrozenAfterDriverOk() {
        bringUp();
        driver.selectQueue(0);
        driver.write(QUEUE_SIZE, 2, 16);
        driver.write64(QUEUE_DESC, 0x40000);
        assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(128);
        assertThat(driver.read64(QUEUE_DESC)).isEqualTo(DESC0);
        assertThat(transport.queues().get(0).address(Ring.DESC)).isEqualTo(DESC0);
    }

    @Test
    void outOfRangeQueueSelectReadsZeroAndIgnoresWrites() {
        driver.negotiate(NEGOTIATED);
        driver.selectQueue(2);
        assertThat(driver.read(QUEUE_SELECT, 2)).isEqualTo(2);
        driver.write(QUEUE_SIZE, 2, 16);
        driver.write(QUEUE_MSIX_VECTOR, 2, 0);
        driver.write64(QUEUE_DESC, DESC0);
        driver.write(QUEUE_ENABLE, 2, 1);
        for (int f : new int[] {QUEUE_SIZE, QUEUE_MSIX_VECTOR, QUEUE_ENABLE, QUEUE_NOTIFY_OFF}) {
            assertThat(driver.read(f, 2)).as("field 0x%x", f).isZero();
        }
        assertThat(driver.read64(QUEUE_DESC)).isZero();
        driver.selectQueue(0xFFFF);
        assertThat(driver.read(QUEUE_SIZE, 2)).isZero();
        for (int q = 0; q < 2; q++) {
            assertThat(transport.queues().get(q).isReady()).isFalse();
            assertThat(transport.queues().get(q).address(Ring.DESC)).isZero();
        }
    }

    @Test
    void invalidQueueSizeIsRefusedAndTheQueueCannotGoLive() {
        driver.negotiate(NEGOTIATED);
        driver.selectQueue(0);
        for (int bad : new int[] {0, 100, 512, 0x8000}) {
            driver.write(QUEUE_SIZE, 2, bad);
            assertThat(driver.read(QUEUE_SIZE, 2)).as("after writing %d", bad).isEqualTo(256);
        }
        driver.write(QUEUE_SIZE, 2, 32);
        assertThat(driver.read(QUEUE_SIZE, 2)).isEqualTo(32);
        driver.write(QUEUE_SIZE, 2, 48);                          // refused, and this one is remembered
        driver.write64(QUEUE_DESC, DESC0);
        driver.write64(QUEUE_DRIVER, AVAIL0);
        driver.write64(QUEUE_DEVICE, USED0);
        driver.write(QUEUE_ENABLE, 2, 1);
        driver.addStatus(DeviceStatus.DRIVER_OK);
        assertThat(driver.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(device.activations).isEmpty();
    }

    @Test
    void oddAccessesToCommonConfigAreIgnored() {
        driver.negotiate(NEGOTIATED);
        assertThat(driver.read(NUM_QUEUES, 1)).isZero();          // narrower than the field
        assertThat(driver.read(NUM_QUEUES, 4)).isZero();          // wider: straddles two fields
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 8)).isZero();
        assertThat(driver.read(NUM_QUEUES + 1, 1)).isZero();      // middle of a field
        assertThat(driver.read(QUEUE_DESC + 2, 4)).isZero();      // misaligned half
        driver.write(DEVICE_FEATURE_SELECT, 2, 1);
        assertThat(driver.read(DEVICE_FEATURE_SELECT, 4)).isZero();
        driver.write(DEVICE_STATUS, 2, 0);                        // a 16-bit status write would reset; ignored
        assertThat(driver.status()).isEqualTo(0xB);
        driver.write(NUM_QUEUES, 2, 7);                           // read-only
        assertThat(driver.read(NUM_QUEUES, 2)).isEqualTo(2);
        driver.write(CONFIG_GENERATION, 1, 9);
        assertThat(driver.read(CONFIG_GENERATION, 1)).isZero();
        // Past the structure, past the BAR, other sizes.
        assertThat(driver.read(0x38, 4)).isZero();
        assertThat(transport.barRead(BAR, transport.layout().barSize(), 4)).isZero();
        assertThat(transport.barRead(BAR, -4, 4)).isZero();
        assertThat(transport.barRead(BAR, 0x12, 3)).isZero();
        assertThat(transport.barRead(0, 0x12, 2)).isZero();
        transport.barWrite(BAR, Long.MAX_VALUE, 4, 0);
        transport.barWrite(BAR, 0x14, 16, 0);
        assertThat(driver.status()).isEqualTo(0xB);
        // MSI-X vectors beyond the table read back as NO_VECTOR (the mapping is refused).
        driver.write(CONFIG_MSIX_VECTOR, 2, 3);
        assertThat(driver.read(CONFIG_MSIX_VECTOR, 2)).isEqualTo(NO_VECTOR);
        driver.selectQueue(0);
        driver.write(QUEUE_MSIX_VECTOR, 2, 0x7FF);
        assertThat(driver.read(QUEUE_MSIX_VECTOR, 2)).isEqualTo(NO_VECTOR);
        // Writes to ISR and reads of the notify region do nothing.
        rig.mmio.write(driver.isr, 1, 3);
        assertThat(transport.peekIsr()).isZero();
        assertThat(rig.mmio.read(driver.notifyBase, 2)).isZero();
    }

    @Test
    void notifyRegistrarFollowsTheBar() {
        List<String> events = new ArrayList<>();
        NotifyRegistrar registrar = new NotifyRegistrar() {
            @Override public void register(int q, long gpa, int len) { events.add("+" + q + "@" + Long.toHexString(gpa) + "/" + len); }
            @Override public void unregister(int q, long gpa, int len) { events.add("-" + q + "@" + Long.toHexString(gpa) + "/" + len); }
        };
        long n = transport.layout().notifyOffset();
        transport.setNotifyRegistrar(registrar);                  // BAR already mapped: registers now
        assertThat(events).containsExactly("+0@" + Long.toHexString(BAR_ADDRESS + n) + "/2",
                "+1@" + Long.toHexString(BAR_ADDRESS + n + 4) + "/2");
        assertThat(transport.notifyAddress(1)).isEqualTo(BAR_ADDRESS + n + 4).isEqualTo(driver.notifyAddress(1));

        events.clear();
        long moved = 0xE000_0000L;
        rig.configWrite(0x10 + 4 * BAR, 4, (int) moved);        // guest moves the BAR while decoding
        rig.configWrite(0x14 + 4 * BAR, 4, 0);
        assertThat(events).contains("-0@" + Long.toHexString(BAR_ADDRESS + n) + "/2",
                "-1@" + Long.toHexString(BAR_ADDRESS + n + 4) + "/2",
                "+0@" + Long.toHexString(moved + n) + "/2", "+1@" + Long.toHexString(moved + n + 4) + "/2");
        assertThat(transport.notifyAddress(0)).isEqualTo(moved + n);
        // Every registration is balanced.
        assertThat(balance(events)).allSatisfy((k, v) -> assertThat(v).as(k).isBetween(-1, 1));

        events.clear();
        rig.configWrite(0x04, 2, 0);                              // decoding off
        assertThat(events).containsExactlyInAnyOrder("-0@" + Long.toHexString(moved + n) + "/2",
                "-1@" + Long.toHexString(moved + n + 4) + "/2");
        assertThat(transport.notifyAddress(0)).isEqualTo(PciBar.UNMAPPED);
    }

    private static java.util.Map<String, Integer> balance(List<String> events) {
        java.util.Map<String, Integer> m = new java.util.HashMap<>();
        for (String e : events) m.merge(e.substring(1), e.charAt(0) == '+' ? 1 : -1, Integer::sum);
        return m;
    }
}
