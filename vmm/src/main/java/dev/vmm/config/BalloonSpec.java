package dev.vmm.config;

import dev.vmm.virtio.balloon.VirtioBalloon;

/**
 * {@code --balloon [deflate-on-oom=on][,free-page-reporting=on][,id=NAME]}: a virtio-balloon-pci
 * device (QEMU's {@code -device virtio-balloon}; at most one, as in QEMU).
 *
 * @param id        the QOM name ({@code /machine/peripheral/ID}, or just ID, for qom-get), or null
 * @param position  the device's place among the machine's devices: QMP's
 *                  {@code /machine/peripheral-anon/device[position]} when there is no id
 * @param sharedRam guest RAM is shared ({@code --memory ...,share=on}): released pages need MADV_REMOVE
 */
public record BalloonSpec(VirtioBalloon.Options options, String id, int position, boolean sharedRam) implements DeviceSpec {
    /** Parses the option's value (an empty string: the defaults). */
    public static BalloonSpec parse(String text) {
        KeyValueOptions o = KeyValueOptions.parse("--balloon", text == null ? "" : text.strip(), null,
                java.util.Set.of("deflate-on-oom", "free-page-reporting", "id"));
        String id = o.string("id", null);
        if (id != null && !id.matches("[A-Za-z][A-Za-z0-9_.-]*")) {
            throw new ConfigException("--balloon: id '" + id + "' must start with a letter and hold only letters, digits, '-', '.', '_'");
        }
        return new BalloonSpec(new VirtioBalloon.Options(o.bool("deflate-on-oom", false), o.bool("free-page-reporting", false)),
                id, 0, false);
    }

    /** This spec at device position {@code position}, over shared or private RAM. */
    public BalloonSpec at(int position, boolean sharedRam) {
        return new BalloonSpec(options, id, position, sharedRam);
    }
}
