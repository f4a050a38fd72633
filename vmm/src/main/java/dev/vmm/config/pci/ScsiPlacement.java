package dev.vmm.config.pci;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ScsiOptions;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The {@code --scsi} options make one controller: {@code bus=}/{@code addr=} on any of them place
 * the controller, and options that disagree are refused.
 */
public final class ScsiPlacement {
    private ScsiPlacement() {}

    public static DeviceSpec controller(List<String> options) {
        List<ScsiOptions> disks = new ArrayList<>();
        PciTarget target = null;
        for (String text : options) {
            PlacedSpec.Split s = PlacedSpec.split("--scsi", text);
            if (s.target() != null) {
                if (target != null && !Objects.equals(target, s.target())) {
                    throw new ConfigException("--scsi: the disks share one controller; " + target + " and " + s.target() + " disagree");
                }
                target = s.target();
            }
            disks.add(ScsiOptions.parse(s.rest()));
        }
        ScsiControllerSpec spec = new ScsiControllerSpec(disks);
        return target == null ? spec : new PlacedSpec(spec, target);
    }
}
