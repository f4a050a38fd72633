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
        int disks = 0, nics = 0;
        try {
            for (DeviceSpec s : specs) {
                opened.add(switch (s) {
                    case DiskSpec d -> VirtioBlkAttach.open(d, disks++, ctx);
                    case NetOptions n -> VirtioNetAttach.open(n, nics++, ctx);
                    case ScsiControllerSpec c -> VirtioScsiAttach.open(c, ctx);
                    case RngOptions r -> VirtioRngAttach.open(r);
                    case ConsoleSpec c -> VirtioConsoleAttach.open(c);
                    case PvpanicSpec p -> new PvpanicPciAttach();
                    case dev.vmm.config.AhciSpec a -> AhciAttach.open(a, ctx);
                    case dev.vmm.config.UsbSpec u -> new XhciAttach();
                    default -> throw new IllegalArgumentException("no attach code for " + s.getClass().getSimpleName());
                });
            }
            return opened;
        } catch (RuntimeException e) {
            for (PendingDevice p : opened) p.close();
            throw e;
        }
    }
}
