package dev.vmm.devices.pcie;

import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;

import java.util.Map;

/**
 * The PCI tree as {@code vmm run --dry-run} prints it: one line per function ({@code bb:dd.f name}),
 * functions behind a bridge or root port indented below it, with the bus range the bridge forwards.
 */
public final class PciTreeText {
    private PciTreeText() {}

    /** @param names what to call a function's device (else its own {@link PciDevice#name()}) */
    public static String of(PciBus root, Map<PciDevice, String> names) {
        StringBuilder sb = new StringBuilder();
        append(sb, root, names, "  ");
        return sb.toString();
    }

    private static void append(StringBuilder sb, PciBus bus, Map<PciDevice, String> names, String indent) {
        for (PciFunction f : bus.functions()) {
            sb.append(indent).append(f.address()).append(' ').append(names.getOrDefault(f.device(), f.device().name()));
            if (f.device() instanceof PciBridge b) {
                sb.append(String.format(" [bus %02x-%02x]", b.secondaryBusNumber(), b.subordinateBusNumber()));
                if (f.configSpace().size() > 256) sb.append(" pcie");
                sb.append('\n');
                append(sb, b.secondaryBus(), names, indent + "  ");
            } else {
                PciBridge up = bus.upstreamBridge();
                if (up != null && up.configSpace().size() > 256) sb.append(" (pcie endpoint)");
                sb.append('\n');
            }
        }
    }
}
