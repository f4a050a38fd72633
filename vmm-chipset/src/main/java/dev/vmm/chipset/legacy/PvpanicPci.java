package dev.vmm.chipset.legacy;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;

import java.util.function.IntConsumer;

/**
 * The pvpanic device, PCI flavour (QEMU's {@code pvpanic-pci}, 1b36:0011): the same one event
 * register as the ISA {@link Pvpanic}, at offset 0 of a memory BAR 0 instead of an I/O port, found
 * by the guest through its PCI ids rather than ACPI (Linux: {@code pvpanic-pci}). No interrupt.
 */
public final class PvpanicPci implements PciDevice {
    public static final int VENDOR_ID = 0x1b36, DEVICE_ID = 0x0011;
    /** Base class 08 (system peripheral), sub-class 80 (other). */
    public static final int CLASS_CODE = 0x088000;
    /** The smallest memory BAR PCI allows; the register is its first byte. */
    public static final long BAR_SIZE = 16;

    private final PciConfigSpace config = PciConfigSpace.endpoint(VENDOR_ID, DEVICE_ID, CLASS_CODE, 1);
    private final Pvpanic events;

    /** @param listener called on the vCPU thread with the non-empty set of supported event bits written */
    public PvpanicPci(IntConsumer listener) {
        this.events = new Pvpanic(listener);
        config.setSubsystem(0x1af4, 0x1100); // QEMU's default subsystem ids for its own PCI devices
        config.addBar(0, PciBar.memory32(BAR_SIZE, false));
    }

    @Override
    public PciConfigSpace configSpace() { return config; }

    @Override
    public long barRead(int bar, long offset, int size) {
        return bar == 0 ? events.read(offset, size) : 0;
    }

    @Override
    public void barWrite(int bar, long offset, int size, long value) {
        if (bar == 0) events.write(offset, size, value);
    }

    @Override
    public String name() { return "pvpanic-pci"; }
}
