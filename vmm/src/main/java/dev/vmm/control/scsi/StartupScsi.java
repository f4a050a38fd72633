package dev.vmm.control.scsi;

import dev.vmm.devices.VirtioScsiAttach;
import dev.vmm.devices.scsi.ScsiController;

import java.util.List;

/**
 * The qdev ids the command line gave SCSI devices ({@code --scsi-controller id=}, {@code --scsi
 * ...,id=}): QMP must treat them as taken ({@code device_add} with one is a duplicate), and
 * {@code device_del} of one is refused with its reason rather than "not found".
 */
final class StartupScsi {
    private StartupScsi() {}

    /** How messages name the start-up device {@code id} ({@code scsi-hd 'd1'}), or null when none has it. */
    static String gave(List<ScsiController> startup, String id) {
        for (ScsiController c : startup) {
            if (!c.busName().equals(VirtioScsiAttach.COLD_BUS) && c.busName().equals(id + ".0")) return "virtio-scsi-pci '" + id + "'";
            for (int lun : c.scsi().target().lunNumbers()) {
                if (id.equals(c.scsi().lunName(lun))) return "scsi-hd '" + id + "'";
            }
        }
        return null;
    }
}
