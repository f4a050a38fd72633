package dev.vmm.block;

import java.util.List;
import java.util.Map;

/**
 * What {@code vmm img info} shows about one image (not its backing chain).
 *
 * @param format          qemu-img's format name
 * @param virtualSize     disk size in bytes
 * @param clusterSize     allocation unit in bytes, or 0 when the format has none (raw)
 * @param backingFile     backing file name as stored in the image, or null
 * @param backingFormat   backing file format as stored in the image, or null
 * @param dirty           the image was not closed cleanly (qcow2 dirty bit)
 * @param formatSpecific  format-specific fields, with qemu-img's key names
 * @param snapshots       internal snapshots (qcow2), never applied
 */
public record ImageInfo(String format, long virtualSize, long clusterSize, String backingFile, String backingFormat,
                        boolean dirty, Map<String, Object> formatSpecific, List<Snapshot> snapshots) {

    /** One internal snapshot table entry. */
    public record Snapshot(String id, String name, long vmStateSize, long dateSeconds, long dateNanos,
                           long vmClockNanos, long diskSize) {}

    public static ImageInfo simple(String format, long virtualSize) {
        return new ImageInfo(format, virtualSize, 0, null, null, false, Map.of(), List.of());
    }
}
