package dev.vmm.config;

import java.util.List;

/** The one virtio-scsi controller and its disks ({@code --scsi}, repeatable), LUN = order given. */
public record ScsiControllerSpec(List<ScsiOptions> disks) implements DeviceSpec {
    public ScsiControllerSpec {
        disks = List.copyOf(disks);
        if (disks.isEmpty()) throw new IllegalArgumentException("a virtio-scsi controller needs at least one --scsi disk");
    }
}
