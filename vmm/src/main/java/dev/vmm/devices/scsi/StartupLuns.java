package dev.vmm.devices.scsi;

import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.blk.BlkBackend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The start-up LUNs of a controller as the device takes them: the target with each disk at its LUN,
 * and the io_uring data paths indexed by LUN (null where a LUN has none or there is no LUN). A
 * controller whose disks are LUN 0, 1, ... in order gets exactly what {@code --scsi} always made.
 */
public final class StartupLuns {
    private StartupLuns() {}

    public record Target(ScsiTarget target, List<BlkBackend> dataPaths) {}

    /** @param luns and {@code dataPaths} parallel to {@code units} */
    public static Target target(List<ScsiControllerSpec.Unit> units, List<ScsiDisk> luns, List<BlkBackend> dataPaths) {
        if (luns.isEmpty()) return new Target(ScsiTarget.withoutUnits(), List.of());
        boolean inOrder = true;
        for (int i = 0; i < units.size(); i++) inOrder &= units.get(i).lun() == i;
        if (inOrder) return new Target(new ScsiTarget(luns), dataPaths);
        ScsiTarget target = ScsiTarget.withoutUnits();
        int highest = units.stream().mapToInt(ScsiControllerSpec.Unit::lun).max().orElse(-1);
        BlkBackend[] byLun = new BlkBackend[highest + 1];
        for (int i = 0; i < units.size(); i++) {
            if (!target.plug(units.get(i).lun(), luns.get(i))) throw new IllegalArgumentException("LUN " + units.get(i).lun() + " given twice");
            byLun[units.get(i).lun()] = dataPaths.get(i);
        }
        boolean any = Arrays.stream(byLun).anyMatch(b -> b != null);
        return new Target(target, any ? new ArrayList<>(Arrays.asList(byLun)) : List.of());
    }
}
