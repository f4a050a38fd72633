package dev.vmm.power;

import dev.vmm.usb.xhci.XhciController;

import java.util.Objects;

/**
 * A device the S3 wake resets, registered by the code that attaches it (as a part of the
 * machine's {@code DeviceRegistry}) so that {@link MachineWakeReset} finds every such device of
 * the machine at wake time, whichever options added it: the HPET, the xHCI controller, the AHCI
 * HBA. QEMU's wake resets every device; the ones here are those whose reset is more than what
 * their own driver-visible reset already gives the resuming OS.
 *
 * @param name  for the report of a reset that failed
 * @param reset the device's reset (registers to their power-on values; guest RAM untouched)
 */
public record WakeResettable(String name, Runnable reset) {
    /** USBCMD (xHCI 1.2 §5.4.1) at offset 0 of the operational registers; HCRST is bit 1. */
    static final int USBCMD = 0x00, USBCMD_HCRST = 1 << 1;

    public WakeResettable {
        Objects.requireNonNull(name);
        Objects.requireNonNull(reset);
    }

    /**
     * The xHCI controller's reset as QEMU's device reset does it: the same as the driver's
     * Host Controller Reset (QEMU runs one routine for both), reached through the register so
     * the model's own reset path runs. The operational registers start at CAPLENGTH.
     */
    public static WakeResettable xhci(XhciController controller) {
        return new WakeResettable("qemu-xhci", () -> {
            long capLength = controller.barRead(0, 0, 1);
            controller.barWrite(0, capLength + USBCMD, 4, USBCMD_HCRST);
        });
    }
}
