package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.DeviceStatus;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.pci.VirtioPciLayout;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The S3 wake's device reset over the machine's devices without a machine (no KVM): each device
 * left in a state a running guest would leave it in, then system_wakeup through GuestSleep — the
 * devices are back at reset (virtio status 0, UART/i8042 power-on, RTC enables and flags, PM1
 * registers) while guest RAM, the CMOS RAM and clock, the PM timer are kept and WAK_STS is set.
 */
class MachineWakeResetTest {
    final AtomicInteger virtioResets = new AtomicInteger();
    final GuestMemory ram = new GuestMemory(List.of(new GuestRegion(0, 0, Arena.ofAuto().allocate(1 << 20, 4096))));
    final List<Boolean> rtcLine = new ArrayList<>();
    final Uart16550 com1 = new Uart16550(level -> { }, b -> { });
    final I8042 i8042 = new I8042(level -> { }, level -> { }, () -> { });
    final CmosRtc rtc = new CmosRtc(Clock.systemUTC(), rtcLine::add, 1 << 20, 0);
    final AcpiPm pm = new AcpiPm(level -> { }, () -> { }, System::nanoTime);
    final VirtioPciDevice virtio = new VirtioPciDevice(device(), ram, (v, a, d) -> { }, null, 2, false);

    VirtioDevice device() {
        return new VirtioDevice() {
            public dev.vmm.virtio.VirtioDeviceType deviceType() { return dev.vmm.virtio.VirtioDeviceType.ENTROPY; }
            public long deviceFeatures() { return 1L << 32; }
            public int queueCount() { return 1; }
            public int queueMaxSize(int q) { return 256; }
            public int configSize() { return 0; }
            public long readConfig(int offset, int size) { return 0; }
            public void writeConfig(int offset, int size, long value) { }
            public void queueNotify(int q) { }
            public void reset() { virtioResets.incrementAndGet(); }
            public void activate(GuestMemory m, long features, List<dev.vmm.virtio.queue.SplitQueue> queues, dev.vmm.virtio.VirtioInterrupt irq) { }
        };
    }

    void common(int offset, int size, long value) {
        virtio.barWrite(VirtioPciDevice.BAR, VirtioPciLayout.COMMON_OFFSET + offset, size, value);
    }

    void cmos(int index, int value) {
        rtc.write(0, 1, index);
        rtc.write(1, 1, value);
    }

    int cmos(int index) {
        rtc.write(0, 1, index);
        return (int) rtc.read(1, 1);
    }

    @Test
    void wakeResetsTheDevicesAndKeepsRam() throws Exception {
        WakeReset reset = MachineWakeReset.of(com1, i8042, rtc, pm, () -> List.of(virtio));
        Lifecycle lifecycle = new Lifecycle();
        GuestSleep sleep = new GuestSleep(lifecycle, new GuestSleep.Platform() {
            @Override public void parkVcpus() { }
            @Override public WakeEntry wakeEntry() { return WakeEntry.decode(0x9A000, 0, 2); }
            @Override public void wakeStatus(boolean byRtc) {
                assertThat(reset.run()).isEmpty();
                pm.wake(byRtc);
            }
            @Override public void resumeAt(WakeEntry entry) { }
            @Override public void resetInstead(String why) { throw new AssertionError(why); }
        });
        lifecycle.states().transition(RunState.RUNNING);

        // What a running guest leaves behind.
        ram.write(0x8000, new byte[] {1, 2, 3, 4});
        common(0x14, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        common(0x08, 4, 1);                                   // driver_feature_select: high word
        common(0x0c, 4, 1);                                   // VIRTIO_F_VERSION_1
        common(0x14, 1, DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        assertThat(virtio.deviceStatus()).isEqualTo(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        com1.write(3, 1, 0x03);                               // LCR 8N1
        com1.write(1, 1, 0x01);                               // IER: RX interrupts
        i8042.write(4, 1, 0x60);                              // write command byte
        i8042.write(0, 1, 0x00);
        cmos(0x40, 0x5a);                                     // CMOS RAM
        cmos(0x0b, 0x12);                                     // UIE
        cmos(0x0a, 0x2f);
        cmos(0x0b, 0x52);                                     // PIE too
        pm.write(AcpiPm.EVT_OFFSET + 2, 2, AcpiPm.RTC_EN | 1);
        pm.write(AcpiPm.CNT_OFFSET, 2, AcpiPm.SLP_TYP_S3 << AcpiPm.SLP_TYP_SHIFT);   // SLP_TYP (SLP_EN comes with the suspend)
        long timerBefore = pm.timerValue();
        int resetsBefore = virtioResets.get();

        sleep.suspend();
        sleep.wakeup(false);

        assertThat(virtio.deviceStatus()).as("virtio back to status 0").isZero();
        assertThat(virtioResets.get()).isGreaterThan(resetsBefore);
        assertThat(com1.read(1, 1)).as("IER").isZero();
        assertThat(com1.read(3, 1)).as("LCR").isZero();
        i8042.write(4, 1, 0x20);                              // read command byte
        assertThat(i8042.read(0, 1)).as("i8042 command byte at power-on").isNotZero();
        assertThat(cmos(0x0b) & 0x78).as("RTC interrupt enables").isZero();
        assertThat(cmos(0x0b) & 0x06).as("RTC format kept").isEqualTo(0x02);
        assertThat(cmos(0x0a)).as("status A kept").isEqualTo(0x2f);
        assertThat(cmos(0x0c)).isZero();
        assertThat(cmos(0x40)).as("CMOS RAM kept").isEqualTo(0x5a);
        assertThat(rtcLine.isEmpty() || !rtcLine.getLast()).as("IRQ 8 low").isTrue();
        assertThat(pm.read(AcpiPm.EVT_OFFSET + 2, 2)).as("PM1_EN").isZero();
        assertThat(pm.read(AcpiPm.CNT_OFFSET, 2) & AcpiPm.SLP_TYP_MASK).as("SLP_TYP").isZero();
        assertThat(pm.read(AcpiPm.EVT_OFFSET, 2) & AcpiPm.WAK_STS).as("WAK_STS after the reset").isNotZero();
        assertThat(pm.timerValue()).as("the PM timer ran on").isGreaterThanOrEqualTo(timerBefore);
        byte[] kept = new byte[4];
        ram.read(0x8000, kept, 0, 4);
        assertThat(kept).containsExactly(1, 2, 3, 4);
        assertThat(lifecycle.state()).isEqualTo(RunState.RUNNING);
    }

    @Test
    void registeredDevicesAreResetByNameAndAskedForAtWakeTime() {
        List<String> ran = new ArrayList<>();
        List<WakeResettable> parts = new ArrayList<>();
        WakeReset reset = MachineWakeReset.of(com1, i8042, rtc, pm, List::of, () -> parts);
        parts.add(new WakeResettable("hpet", () -> ran.add("hpet")));   // attached after the list was made
        parts.add(new WakeResettable("ich9-ahci", () -> { throw new IllegalStateException("port busy"); }));
        parts.add(new WakeResettable("qemu-xhci", () -> ran.add("qemu-xhci")));
        assertThat(reset.run()).containsExactly("devices: ich9-ahci: port busy");
        assertThat(ran).containsExactly("hpet", "qemu-xhci");
    }

    @Test
    void aFailingDeviceIsNamedAndTheOthersStillReset() {
        List<String> ran = new ArrayList<>();
        WakeReset reset = new WakeReset()
                .add("a", () -> ran.add("a"))
                .add("broken", () -> { throw new IllegalStateException("stuck"); })
                .add("c", () -> ran.add("c"));
        assertThat(reset.run()).containsExactly("broken: stuck");
        assertThat(ran).containsExactly("a", "c");
    }
}
