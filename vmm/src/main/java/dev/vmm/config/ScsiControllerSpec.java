package dev.vmm.config;

import java.util.ArrayList;
import java.util.List;

/**
 * A virtio-scsi controller and its start-up disks. The {@code --scsi} controller has no id (its SCSI
 * bus is {@code scsi.0}) and its disks are LUN 0, 1, ... in the order given unless a disk names its
 * {@code lun=}; a {@code --scsi-controller id=ID} one (issue 15: libvirt's {@code -device
 * virtio-scsi-pci,id=}) has an id, its own queue count, and takes the disks given
 * {@code controller=ID} (dev.vmm.config.scsi.ScsiLayout).
 *
 * @param id     the controller's qdev id (its bus is {@code <id>.0}), or null for the {@code --scsi} one
 * @param queues request queues of a {@code --scsi-controller} (null: one per vCPU); the {@code --scsi}
 *               controller takes its disks' {@code queues=} ({@link ScsiOptions#controllerQueues})
 * @param units  where each disk is: parallel to {@code disks}
 */
public record ScsiControllerSpec(String id, Integer queues, List<ScsiOptions> disks, List<Unit> units) implements DeviceSpec {
    /**
     * A disk's address on the controller (target 0: this VMM's virtio-scsi has one target).
     *
     * @param id       the disk's qdev id ({@code scsi-hd}'s), or null
     * @param explicit whether the disk was placed by {@code controller=}/{@code lun=}/{@code id=}
     *                 (then its default serial is the one {@code device_add scsi-hd} gives, so a
     *                 disk hot-plugged at a source is the same disk on a destination started with it)
     */
    public record Unit(int lun, String id, boolean explicit) {}

    public ScsiControllerSpec {
        disks = List.copyOf(disks);
        units = List.copyOf(units);
        if (disks.size() != units.size()) throw new IllegalArgumentException(disks.size() + " disks, " + units.size() + " units");
        if (disks.isEmpty() && id == null) throw new IllegalArgumentException("a virtio-scsi controller needs at least one --scsi disk");
    }

    /** The {@code --scsi} controller as it always was: LUN = order given. */
    public ScsiControllerSpec(List<ScsiOptions> disks) {
        this(null, null, disks, inOrder(disks.size()));
    }

    private static List<Unit> inOrder(int n) {
        List<Unit> u = new ArrayList<>();
        for (int i = 0; i < n; i++) u.add(new Unit(i, null, false));
        return u;
    }

    /** Whether every disk is where {@code --scsi} always put it (LUN = position, no id). */
    public boolean plain() {
        for (int i = 0; i < units.size(); i++) if (units.get(i).explicit() || units.get(i).lun() != i) return false;
        return true;
    }
}
