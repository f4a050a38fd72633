package dev.vmm.snapshot.devices;

import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.pcie.RootPortAttach;
import dev.vmm.migration.stream.StateFormatException;

import java.util.List;

/**
 * PCIe root port slots after their config spaces were loaded (issue 15): slot control and status
 * travel in the {@code pci} section; each port re-derives its pending hot-plug events and its
 * interrupt from them, and refuses a slot whose saved presence differs from this machine's.
 */
public final class RootPortSlots {
    private RootPortSlots() {}

    public static void configRestored(DeviceRegistry registry) throws StateFormatException {
        if (registry == null) return;
        List<PciPlacement> placements = registry.parts(PciPlacement.class);
        if (placements.isEmpty()) return;
        for (var e : placements.getFirst().buses().entrySet()) {
            if (!(e.getValue() instanceof RootPortAttach.Slot slot)) continue;
            try {
                slot.port().configRestored();
            } catch (IllegalStateException ex) {
                throw new StateFormatException("pcie-root-port '" + e.getKey() + "': " + ex.getMessage());
            }
        }
    }
}
