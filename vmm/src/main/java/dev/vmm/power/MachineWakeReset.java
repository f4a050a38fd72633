package dev.vmm.power;

import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.pci.VirtioPciLayout;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What an S3 wake resets of this VMM's devices, after QEMU's PC (whose wakeup is a device reset
 * that keeps RAM): every virtio device goes to status 0 (queues and features forgotten, so the
 * resuming driver negotiates again — Linux's virtio core does on restore), COM1 and the i8042 to
 * power-on (Linux's 8250 and i8042 drivers reprogram them on resume), the RTC through its RESET pin
 * (interrupt enables and flags), the ACPI PM1 registers (WAK_STS is set after), and the devices
 * that registered a {@link WakeResettable}: HPET, xHCI, AHCI. Kept as they
 * are: guest RAM, PCI configuration space (BARs, MSI-X; Linux restores it on resume, and with
 * direct kernel boot there is no firmware to program it again), the CMOS RAM and clock, the PM
 * timer.
 */
public final class MachineWakeReset {
    /** virtio_pci_common_cfg.device_status (virtio 1.x §4.1.4.3): writing 0 resets the device. */
    static final int DEVICE_STATUS = 0x14;

    private MachineWakeReset() {}

    /** The reset list; {@code transports} is asked at wake time (devices come and go by hot-plug). */
    public static WakeReset of(Uart16550 com1, I8042 i8042, CmosRtc rtc, AcpiPm pm, Supplier<List<VirtioPciDevice>> transports) {
        return of(com1, i8042, rtc, pm, transports, List::of);
    }

    /**
     * As above, plus {@code others}: the devices that registered a {@link WakeResettable} (HPET,
     * xHCI, AHCI), asked at wake time; each is reset and reported by its own name.
     */
    public static WakeReset of(Uart16550 com1, I8042 i8042, CmosRtc rtc, AcpiPm pm, Supplier<List<VirtioPciDevice>> transports,
                               Supplier<List<WakeResettable>> others) {
        return new WakeReset()
                .add("com1", com1::reset)
                .add("i8042", i8042::reset)
                .add("cmos", rtc::resetPin)
                .add("acpi-pm", pm::resetRegisters)
                .add("virtio", () -> resetEach(transports.get(), VirtioPciDevice::name, MachineWakeReset::resetVirtio))
                .add("devices", () -> resetEach(others.get(), WakeResettable::name, d -> d.reset().run()));
    }

    /** Resets every device of a group; one that fails does not stop the others, and all failures are named. */
    private static <T> void resetEach(List<T> devices, Function<T, String> name, Consumer<T> reset) {
        List<String> failed = new ArrayList<>();
        for (T d : devices) {
            try {
                reset.accept(d);
            } catch (RuntimeException e) {
                failed.add(name.apply(d) + ": " + e.getMessage());
            }
        }
        if (!failed.isEmpty()) throw new IllegalStateException(String.join("; ", failed));
    }

    /** The device reset a driver asks for: status 0 written to the common configuration. */
    static void resetVirtio(VirtioPciDevice d) {
        d.barWrite(VirtioPciDevice.BAR, VirtioPciLayout.COMMON_OFFSET + DEVICE_STATUS, 1, 0);
    }
}
