package dev.vmm.control.scsi;

import dev.vmm.devices.VirtioScsiAttach;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.devices.scsi.StartupLun;

import java.util.List;

/**
 * The qdev ids the command line gave SCSI devices ({@code --scsi-controller id=}, {@code --scsi
 * ...,id=}): QMP must treat them as taken ({@code device_add} with one is a duplicate);
 * {@code device_del} removes such a disk ({@link ScsiHdDriver}); such a controller is PciHotplug's
 * (VirtioScsiPciDriver removes it) unless the machine has no hot-plug slots: then it is refused here.
 */
final class StartupScsi {
    private StartupScsi() {}

    /** A start-up controller ({@code lun} null) or disk with the id asked for. */
    record Found(String describe, ScsiController controller, StartupLun lun) {}

    /** The start-up device {@code id} among {@code controllers} and their {@code luns}, or null. */
    static Found find(List<ScsiController> controllers, List<StartupLun> luns, String id) {
        for (ScsiController c : controllers) {
            if (!c.busName().equals(VirtioScsiAttach.COLD_BUS) && c.busName().equals(id + ".0")) return new Found("virtio-scsi-pci '" + id + "'", c, null);
        }
        for (StartupLun l : luns) {
            // Still that LUN's disk (its name goes when it is detached).
            if (id.equals(l.id()) && id.equals(l.controller().scsi().lunName(l.lun()))) return new Found("scsi-hd '" + id + "'", l.controller(), l);
        }
        return null;
    }
}
