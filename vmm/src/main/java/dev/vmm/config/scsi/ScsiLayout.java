package dev.vmm.config.scsi;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ScsiOptions;
import dev.vmm.config.ids.StartupIds;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.config.pci.PlacedSpec;
import dev.vmm.scsi.ScsiTarget;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The SCSI controllers of the command line: the {@code --scsi} one (disks without
 * {@code controller=}; {@code bus=}/{@code addr=} on any of them place it, options that disagree are
 * refused — as before) and one per {@code --scsi-controller id=ID} (disks with
 * {@code controller=ID}). Each disk's LUN is its {@code lun=}, else the lowest LUN no disk of that
 * controller names or took before it (so without {@code lun=} anywhere: the order given).
 */
public final class ScsiLayout {
    private ScsiLayout() {}

    /** One controller being assembled. */
    private static final class Controller {
        final String id;
        final Integer queues;
        PciTarget target;
        final List<ScsiOptions> disks = new ArrayList<>();
        final List<ScsiAddress> addresses = new ArrayList<>();

        Controller(String id, Integer queues, PciTarget target) {
            this.id = id;
            this.queues = queues;
            this.target = target;
        }

        DeviceSpec spec() {
            Map<Integer, ScsiAddress> taken = new HashMap<>();
            for (ScsiAddress a : addresses) {
                if (a.lun() == null) continue;
                ScsiAddress before = taken.putIfAbsent(a.lun(), a);
                if (before != null) throw new ConfigException("--scsi: lun already used by '" + (before.id() == null ? "(null)" : before.id()) + "'"); // QEMU's words
            }
            List<ScsiControllerSpec.Unit> units = new ArrayList<>();
            int next = 0;
            for (ScsiAddress a : addresses) {
                int lun;
                if (a.lun() != null) {
                    lun = a.lun();
                } else {
                    while (taken.containsKey(next)) next++;
                    if (next > ScsiTarget.MAX_LUN) throw new ConfigException("--scsi: no free lun");
                    lun = next;
                    taken.put(lun, a);
                }
                units.add(new ScsiControllerSpec.Unit(lun, a.id(), a.explicit()));
            }
            ScsiControllerSpec spec = id == null && units.stream().noneMatch(ScsiControllerSpec.Unit::explicit)
                    ? new ScsiControllerSpec(disks) : new ScsiControllerSpec(id, queues, disks, units);
            return target == null ? spec : new PlacedSpec(spec, target);
        }
    }

    /**
     * Appends the controllers made of {@code scsi} ({@code --scsi} values) and {@code controllers}
     * ({@code --scsi-controller} values) to {@code specs} (the other devices, whose ids a
     * {@code controller=} must not name): the {@code --scsi} controller first, if it has disks.
     */
    public static void add(List<DeviceSpec> specs, List<String> scsi, List<String> controllers) {
        Controller plain = new Controller(null, null, null);
        Map<String, Controller> named = new LinkedHashMap<>();
        for (String text : controllers) {
            PlacedSpec.Split s = PlacedSpec.split("--scsi-controller", text);
            ScsiControllerOptions o = ScsiControllerOptions.parse(s.rest());
            if (named.containsKey(o.id())) throw new ConfigException("Duplicate ID '" + o.id() + "' for device");
            named.put(o.id(), new Controller(o.id(), o.queues(), s.target()));
        }
        Map<String, String> others = null;
        for (String text : scsi) {
            PlacedSpec.Split placed = PlacedSpec.split("--scsi", text);
            ScsiAddress.Split split = ScsiAddress.split(placed.rest());
            ScsiAddress a = split.address();
            ScsiOptions disk = ScsiOptions.parse(split.rest());
            Controller c = plain;
            if (a.controller() != null) {
                c = named.get(a.controller());
                if (c == null) {
                    if (others == null) others = StartupIds.of(specs);
                    String owner = others.get(a.controller());
                    throw new ConfigException("--scsi: controller=" + a.controller() + (owner != null
                            ? " is a " + owner + " id, not a SCSI controller's" : ": no --scsi-controller id=" + a.controller()));
                }
                if (placed.target() != null) {
                    throw new ConfigException("--scsi: bus=/addr= place the controller: give them on --scsi-controller id=" + c.id);
                }
                if (disk.queues() != null) {
                    throw new ConfigException("--scsi: queues= is the controller's: give it on --scsi-controller id=" + c.id);
                }
            } else if (placed.target() != null) {
                if (c.target != null && !Objects.equals(c.target, placed.target())) {
                    throw new ConfigException("--scsi: the disks share one controller; " + c.target + " and " + placed.target() + " disagree");
                }
                c.target = placed.target();
            }
            c.disks.add(disk);
            c.addresses.add(a);
        }
        if (!plain.disks.isEmpty()) specs.add(plain.spec());
        for (Controller c : named.values()) specs.add(c.spec());
    }
}
