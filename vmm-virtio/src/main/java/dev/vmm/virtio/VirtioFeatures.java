package dev.vmm.virtio;

/**
 * Device-independent virtio feature bits (virtio 1.x, "Reserved Feature Bits"), as 64-bit masks so
 * they can be or-ed into a device's offered feature set. Device-specific bits (0..23) are defined
 * next to each device.
 */
public final class VirtioFeatures {
    private VirtioFeatures() { }

    /** The driver may use descriptors with VIRTQ_DESC_F_INDIRECT (bit 28). */
    public static final long VIRTIO_F_INDIRECT_DESC = 1L << 28;
    /** used_event / avail_event notification suppression (bit 29). */
    public static final long VIRTIO_F_EVENT_IDX = 1L << 29;
    /** Compliance with virtio 1.x; a modern-only device always offers it and requires it (bit 32). */
    public static final long VIRTIO_F_VERSION_1 = 1L << 32;
    /** The device is behind an IOMMU / limited DMA view: addresses are not plain guest-physical (bit 33). */
    public static final long VIRTIO_F_ACCESS_PLATFORM = 1L << 33;
    /** Packed virtqueue layout (bit 34). Not implemented here: devices must not offer it. */
    public static final long VIRTIO_F_RING_PACKED = 1L << 34;
    /** Buffers are used in the order they were made available (bit 35). */
    public static final long VIRTIO_F_IN_ORDER = 1L << 35;
    /** Memory accesses need platform (not just SMP) ordering, e.g. real hardware (bit 36). */
    public static final long VIRTIO_F_ORDER_PLATFORM = 1L << 36;
    /** Single-root I/O virtualization (bit 37). */
    public static final long VIRTIO_F_SR_IOV = 1L << 37;
    /** The driver passes extra data with available-buffer notifications (bit 38). */
    public static final long VIRTIO_F_NOTIFICATION_DATA = 1L << 38;
    /** Driver-chosen notification config data (bit 39). */
    public static final long VIRTIO_F_NOTIF_CONFIG_DATA = 1L << 39;
    /** Individual queue reset (bit 40). */
    public static final long VIRTIO_F_RING_RESET = 1L << 40;

    /** Whether every bit of {@code mask} is set in {@code features}. */
    public static boolean has(long features, long mask) {
        return (features & mask) == mask;
    }

    /** A short human-readable list of the known transport feature bits set in {@code features}. */
    public static String describe(long features) {
        StringBuilder sb = new StringBuilder("0x").append(Long.toHexString(features));
        String[] names = {"INDIRECT_DESC", "EVENT_IDX", null, null, "VERSION_1", "ACCESS_PLATFORM", "RING_PACKED",
            "IN_ORDER", "ORDER_PLATFORM", "SR_IOV", "NOTIFICATION_DATA", "NOTIF_CONFIG_DATA", "RING_RESET"};
        String sep = " [";
        for (int i = 0; i < names.length; i++) {
            if (names[i] != null && (features & (1L << (28 + i))) != 0) {
                sb.append(sep).append(names[i]);
                sep = ",";
            }
        }
        if (!sep.equals(" [")) sb.append(']');
        return sb.toString();
    }
}
