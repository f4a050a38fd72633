package dev.vmm.balloon;

import dev.vmm.virtio.balloon.VirtioBalloon;

/**
 * The machine's balloon as QMP finds it: the device and its QOM paths — QEMU's
 * {@code /machine/peripheral/ID} (or the bare ID) with an id, else
 * {@code /machine/peripheral-anon/device[N]}.
 */
public record MachineBalloon(VirtioBalloon device, String id, int position) {
    /** Whether a qom-get/qom-set {@code path} names this device. */
    public boolean hasPath(String path) {
        if (id != null) return path.equals(id) || path.equals("/machine/peripheral/" + id);
        return path.equals("/machine/peripheral-anon/device[" + position + "]");
    }

    /** Its canonical QOM path. */
    public String path() {
        return id != null ? "/machine/peripheral/" + id : "/machine/peripheral-anon/device[" + position + "]";
    }
}
