package dev.vmm.virtio;

/**
 * Virtio device types (virtio 1.x, "Device Types"): the id (PCI device id = 0x1040 + id) and the
 * short name the VMM shows (QMP, logs, --stats).
 */
public enum VirtioDeviceType {
    NET(1, "net"),
    BLOCK(2, "blk"),
    CONSOLE(3, "console"),
    ENTROPY(4, "rng"),
    BALLOON(5, "balloon"),
    SCSI(8, "scsi"),
    NINE_P(9, "9p"),
    GPU(16, "gpu"),
    INPUT(18, "input"),
    VSOCK(19, "vsock"),
    CRYPTO(20, "crypto"),
    IOMMU(23, "iommu"),
    MEMORY(24, "memory"),
    FS(26, "fs"),
    PMEM(27, "pmem");

    private final int id;
    private final String shortName;

    VirtioDeviceType(int id, String shortName) {
        this.id = id;
        this.shortName = shortName;
    }

    /** The device id of the virtio specification. */
    public int id() { return id; }

    /** Short lower-case name ("blk", "net", ...). */
    public String shortName() { return shortName; }

    /** The type with device id {@code id}, or null when the id is not one of these. */
    public static VirtioDeviceType byId(int id) {
        for (VirtioDeviceType t : values()) {
            if (t.id == id) return t;
        }
        return null;
    }

    /** The short name of device id {@code id}, or "typeN" for an id not listed (e.g. from a saved state). */
    public static String nameOf(int id) {
        VirtioDeviceType t = byId(id);
        return t == null ? "type" + id : t.shortName;
    }
}
