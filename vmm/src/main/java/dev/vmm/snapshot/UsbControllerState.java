package dev.vmm.snapshot;

import dev.vmm.chipset.pci.MsixTable;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.machine.Machine;
import dev.vmm.migration.stream.StateFormatException;
import dev.vmm.usb.xhci.XhciController;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.io.DataInputStream;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code usb/xhci} section: the qemu-xhci controller's state with its plugged devices'
 * ({@link XhciController#saveState}), after the {@code pci} section (config space, BAR, MSI-X
 * table) and before guest RAM in a snapshot. Capturing first lets usb-storage finish a disk
 * command in flight (its data lands in guest RAM, saved afterwards).
 */
final class UsbControllerState {
    static final String SECTION = "usb/xhci";
    static final int VERSION = XhciController.STATE_VERSION;
    /** How long a device may take to finish a disk command before the save is refused. */
    static final long QUIESCE_NANOS = TimeUnit.SECONDS.toNanos(10);

    private UsbControllerState() {}

    /** The machine's xHCI controller, or null. */
    static XhciController of(Machine m) {
        return of(m.devices());
    }

    /** The xHCI controller among {@code registry}'s parts, or null (also for a null registry). */
    static XhciController of(dev.vmm.devices.DeviceRegistry registry) {
        if (registry == null) return null;
        List<XhciController> c = registry.parts(XhciController.class);
        return c.isEmpty() ? null : c.getFirst();
    }

    /** The MSI-X table the {@code pci} section carries for a function, or null (no MSI-X state to save). */
    static MsixTable msixOf(PciDevice d) {
        if (d instanceof VirtioPciDevice v) return v.msixTable();
        if (d instanceof XhciController x) return x.msixTable();
        return null;
    }

    /** Quiesces the controller's devices and saves its state (vCPUs paused); null without a controller. */
    static byte[] capture(dev.vmm.devices.DeviceRegistry registry) throws IOException {
        XhciController hc = of(registry);
        if (hc == null) return null;
        try {
            String busy = hc.quiesce(QUIESCE_NANOS);
            if (busy != null) {
                throw new IllegalStateException("cannot save the state of " + busy + ": its disk command did not finish within "
                        + TimeUnit.NANOSECONDS.toSeconds(QUIESCE_NANOS) + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while " + hc.name() + "'s devices finished their work", e);
        }
        return SectionBytes.of(hc::saveState);
    }

    /** Loads the section into the machine's controller; a refused state is one line naming it. */
    static void load(dev.vmm.devices.DeviceRegistry registry, DataInputStream in) throws IOException {
        XhciController hc = of(registry);
        if (hc == null) throw new StateFormatException("state has a qemu-xhci controller, this machine has none: start it with --usb");
        try {
            hc.loadState(in, VERSION);
        } catch (dev.vmm.usb.UsbStateException e) {
            throw new StateFormatException("qemu-xhci: " + e.getMessage());
        }
    }
}
