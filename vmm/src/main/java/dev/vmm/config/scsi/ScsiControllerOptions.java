package dev.vmm.config.scsi;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.KeyValueOptions;
import dev.vmm.virtio.scsi.ScsiConfig;

import java.util.Set;

/**
 * {@code --scsi-controller id=ID[,queues=N][,bus=B][,addr=A]} (issue 15): a virtio-scsi controller
 * with a qdev id, libvirt's {@code -device virtio-scsi-pci,id=scsi0,bus=pci.0,addr=0x5}. Its SCSI
 * bus is {@code ID.0} (QEMU's name: {@code device_add scsi-hd bus=ID.0} reaches it); disks go on it
 * with {@code --scsi ...,controller=ID}. {@code bus=}/{@code addr=} are taken out before this parser
 * ({@link dev.vmm.config.pci.PlacedSpec}).
 *
 * @param queues request queues (QEMU's {@code num_queues}), null: one per vCPU
 */
public record ScsiControllerOptions(String id, Integer queues) {
    static final Set<String> KEYS = Set.of("id", "queues");

    public static ScsiControllerOptions parse(String text) {
        String option = "--scsi-controller";
        KeyValueOptions o = KeyValueOptions.parse(option, text == null ? "" : text, "id", KEYS);
        String id = o.required("id");
        if (!id.matches(DiskSpec.ID_PATTERN)) {
            throw new ConfigException(option + ": id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)");
        }
        Integer queues = o.has("queues") ? (int) o.number("queues", 0, 1, ScsiConfig.MAX_QUEUES) : null;
        return new ScsiControllerOptions(id, queues);
    }
}
