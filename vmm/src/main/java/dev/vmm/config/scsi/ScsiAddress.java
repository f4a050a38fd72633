package dev.vmm.config.scsi;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.pci.PlacedSpec;
import dev.vmm.scsi.ScsiTarget;

import java.util.Map;
import java.util.Set;

/**
 * Where a {@code --scsi} disk goes: {@code controller=ID} (a {@code --scsi-controller}'s id; without
 * it the {@code --scsi} controller), {@code scsi-id=} (target), {@code lun=}, {@code channel=} and the
 * disk's {@code id=} — QEMU's {@code scsi-hd} property names, with libvirt's {@code controller} for
 * the bus ({@code bus=}/{@code addr=} on {@code --scsi} already place the controller on PCI).
 * The ranges and words are QEMU's for a virtio-scsi bus (channel 0, target 0-255, LUN 0-16383);
 * a target other than 0 is this VMM's own refusal (its controller has one target).
 *
 * @param lun null: the next free LUN (the order given, as {@code --scsi} always did)
 */
public record ScsiAddress(String controller, Integer lun, String id) {
    static final Set<String> KEYS = Set.of("controller", "scsi-id", "lun", "channel", "id");
    /** QEMU's virtio-scsi bus: VIRTIO_SCSI_MAX_TARGET. */
    static final int MAX_TARGET = 255;

    /** Whether any key was given (the disk is placed explicitly). */
    public boolean explicit() {
        return controller != null || lun != null || id != null;
    }

    /** The address keys taken out of a {@code --scsi} option (the rest is {@link dev.vmm.config.ScsiOptions}'s). */
    public record Split(String rest, ScsiAddress address) {}

    public static Split split(String text) {
        PlacedSpec.Taken t = PlacedSpec.take("--scsi", text, KEYS);
        return new Split(t.rest(), of(t.values()));
    }

    static ScsiAddress of(Map<String, String> v) {
        String controller = v.get("controller");
        if (controller != null && !controller.matches(DiskSpec.ID_PATTERN)) {
            throw new ConfigException("--scsi: controller=" + controller + " is not a --scsi-controller id (a letter, then letters, digits, '-', '.', '_')");
        }
        String id = v.get("id");
        if (id != null && !id.matches(DiskSpec.ID_PATTERN)) {
            throw new ConfigException("--scsi: id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)");
        }
        long channel = number(v, "channel", 0);
        long target = number(v, "scsi-id", 0);
        Long lun = v.containsKey("lun") ? number(v, "lun", 0) : null;
        // QEMU's order and words (scsi_qdev_realize): channel, then id, then LUN.
        if (channel > 0) throw new ConfigException("--scsi: bad scsi channel id: " + channel);
        if (target > MAX_TARGET) throw new ConfigException("--scsi: bad scsi device id: " + target);
        if (lun != null && lun > ScsiTarget.MAX_LUN) throw new ConfigException("--scsi: bad scsi device lun: " + lun);
        if (target > 0) {
            throw new ConfigException("--scsi: scsi-id=" + target + ": this VMM's virtio-scsi controller has one target (scsi-id 0);"
                    + " give each disk its own lun instead");
        }
        return new ScsiAddress(controller, lun == null ? null : lun.intValue(), id);
    }

    /** An unsigned 32-bit value, as QEMU's integer properties take. */
    private static long number(Map<String, String> v, String key, long dflt) {
        String s = v.get(key);
        if (s == null) return dflt;
        try {
            long n = Long.parseLong(s);
            if (n >= 0 && n <= 0xFFFF_FFFFL) return n;
        } catch (NumberFormatException e) {
            // below
        }
        throw new ConfigException("--scsi: " + key + "=" + s + " is not a number 0-4294967295");
    }
}
