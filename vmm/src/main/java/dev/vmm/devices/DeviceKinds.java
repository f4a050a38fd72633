package dev.vmm.devices;

import dev.vmm.config.ConsoleSpec;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.NetOptions;
import dev.vmm.config.PvpanicSpec;
import dev.vmm.config.RngOptions;
import dev.vmm.config.ScsiControllerSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * The registration of every device kind: which attach class opens and attaches each kind of spec.
 * Adding a device is a spec record, an attach class and one case here.
 */
public final class DeviceKinds {
    private DeviceKinds() {}

    /**
     * Opens the host side of every device, in order (the order decides PCI slots); on a failure the
     * ones opened already are closed again and the user's error is thrown.
     */
    public static List<PendingDevice> openAll(List<DeviceSpec> specs, OpenContext ctx) {
        List<PendingDevice> opened = new ArrayList<>();
        dev.vmm.config.ids.StartupIds.check(specs); // issue 15: one id namespace, whatever the options' order
        int disks = 0, nics = 0;
        // --pcie-root-port and bus=/addr= (dev.vmm.devices.pcie): physical slot numbers, placement wrappers.
        java.util.List<dev.vmm.config.pci.RootPortSpec> rootPorts = specs.stream()
                .filter(s -> s instanceof dev.vmm.config.pci.RootPortSpec).map(s -> (dev.vmm.config.pci.RootPortSpec) s).toList();
        dev.vmm.devices.pcie.RootPortNumbers slots = new dev.vmm.devices.pcie.RootPortNumbers();
        try {
            for (DeviceSpec spec : specs) {
                dev.vmm.config.pci.PciTarget target = spec instanceof dev.vmm.config.pci.PlacedSpec p ? p.target() : null;
                DeviceSpec s = spec instanceof dev.vmm.config.pci.PlacedSpec p ? p.device() : spec;
                PendingDevice opening = (switch (s) {
                    case dev.vmm.config.pci.RootPortSpec r -> slots.open(r, rootPorts);
                    case DiskSpec d -> VirtioBlkAttach.open(d, disks++, ctx);
                    case NetOptions n -> VirtioNetAttach.open(n, nics++, ctx);
                    case ScsiControllerSpec c -> VirtioScsiAttach.open(c, ctx);
                    case RngOptions r -> VirtioRngAttach.open(r);
                    case ConsoleSpec c -> VirtioConsoleAttach.open(c);
                    case PvpanicSpec p -> new PvpanicPciAttach();
                    case dev.vmm.config.AhciSpec a -> AhciAttach.open(a, ctx);
                    case dev.vmm.config.BalloonSpec b -> VirtioBalloonAttach.open(b);
                    case dev.vmm.config.UsbDeviceSpec u -> UsbDeviceAttach.open(u, ctx);
                    case dev.vmm.config.UsbSpec u -> XhciAttach.of(specs);
                    default -> throw new IllegalArgumentException("no attach code for " + s.getClass().getSimpleName());
                });
                opened.add(target == null ? opening : new dev.vmm.devices.pcie.PlacedDevice(opening, target));
            }
            return opened;
        } catch (RuntimeException e) {
            for (PendingDevice p : opened) p.close();
            throw e;
        }
    }
}
