package dev.vmm.config;

import java.util.Set;

/**
 * {@code --usb}: QEMU's {@code qemu-xhci} USB 3 host controller (PCI 1b36:000d) with 4 USB 3 and
 * 4 USB 2 root hub ports, on {@code pc} and {@code q35}. The option takes no keys yet; USB devices
 * are separate options plugged into its root hub.
 */
public record UsbSpec() implements DeviceSpec {
    /** Parses the option's value (empty: the defaults). */
    public static UsbSpec parse(String text) {
        KeyValueOptions.parse("--usb", text == null ? "" : text.strip(), null, Set.of());
        return new UsbSpec();
    }
}
