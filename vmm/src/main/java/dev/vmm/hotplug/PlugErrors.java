package dev.vmm.hotplug;

import dev.vmm.config.ConfigException;

/** The one-line answers to a device_add that cannot be placed, in QEMU's wording where it has one. */
public final class PlugErrors {
    private PlugErrors() {}

    /** RHEL 7's rule for {@code pc}: only bus 0 has ACPI hot-plug slots. */
    public static String behindBridge(String busName) {
        return "Bus '" + busName + "' is behind a PCI bridge: devices behind PCI bridges are not hot-pluggable"
                + " (only bus pci.0 has hot-plug slots, as RHEL 7 documents for pc)";
    }

    /** What a failed attach of {@code driver} says: the placement's own message, or a full bus. */
    public static String message(String driver, RuntimeException e) {
        if (e instanceof ConfigException) return e.getMessage();
        if (e instanceof IllegalStateException && String.valueOf(e.getMessage()).contains("slots of bus")) {
            return "PCI: no slot/function available for " + driver + ", all in use or reserved";
        }
        return "device_add " + driver + " failed: " + e.getMessage();
    }
}
