package dev.vmm.config.ids;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.NetOptions;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.pci.PlacedSpec;
import dev.vmm.config.pci.RootPortSpec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The qdev ids of the start-up devices ({@code --pcie-root-port}, {@code --disk}, {@code --net},
 * {@code --scsi-controller}, {@code --scsi ...,id=}): one namespace, as QEMU's {@code -device ...,id=}.
 * Checked on the whole option list before anything is opened or attached, so the order the options
 * were given in does not matter (a root port's id was only registered when the port was attached,
 * after a {@code --disk} of the same id could have been).
 */
public final class StartupIds {
    private StartupIds() {}

    /** Every start-up id and the option that gave it, in order; a second device with an id is refused in QEMU's words. */
    public static Map<String, String> of(List<DeviceSpec> specs) {
        Map<String, String> ids = new LinkedHashMap<>();
        for (DeviceSpec spec : specs) {
            DeviceSpec s = spec instanceof PlacedSpec p ? p.device() : spec;
            switch (s) {
                case RootPortSpec r -> add(ids, r.id(), "--pcie-root-port");
                case DiskSpec d -> add(ids, d.id(), "--disk");
                case NetOptions n -> add(ids, n.id(), "--net");
                case ScsiControllerSpec c -> {
                    add(ids, c.id(), "--scsi-controller");
                    for (ScsiControllerSpec.Unit u : c.units()) add(ids, u.id(), "--scsi");
                }
                default -> { }
            }
        }
        return ids;
    }

    /** Refuses a list where two devices share an id. */
    public static void check(List<DeviceSpec> specs) {
        of(specs);
    }

    private static void add(Map<String, String> ids, String id, String option) {
        if (id == null) return;
        if (id.equals("pci.0") || id.equals("pcie.0")) throw new ConfigException(option + ": id=" + id + " is the root bus's name");
        if (ids.putIfAbsent(id, option) != null) throw new ConfigException("Duplicate ID '" + id + "' for device");
    }
}
