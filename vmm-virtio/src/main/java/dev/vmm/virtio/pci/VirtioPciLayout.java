package dev.vmm.virtio.pci;

/**
 * Where the virtio structures live inside the transport's memory BAR. Every structure starts on
 * its own 4 KiB page (guests map each capability separately, and page-granular placement keeps the
 * MSI-X table away from the other registers, as the PCI spec recommends); the BAR is the next power
 * of two that holds them all, at least 16 KiB.
 *
 * <pre>
 * 0x0000  common configuration (56 bytes, virtio 1.x §4.1.4.3)
 * 0x1000  ISR status (1 byte, read-to-clear)
 * 0x2000  device-specific configuration (deviceConfigLength bytes)
 * 0x3000  notify registers: queue i at 0x3000 + 4·i (notify_off_multiplier 4, queue_notify_off = i)
 * then    MSI-X table (16 bytes per vector), page aligned
 * then    MSI-X PBA (8 bytes per 64 vectors), page aligned
 * </pre>
 */
public record VirtioPciLayout(int queues, int deviceConfigLength, int msixVectors,
                              long notifyOffset, long msixTableOffset, long msixPbaOffset, long barSize) {
    static final long PAGE = 0x1000;
    public static final long COMMON_OFFSET = 0x0000;
    /** Length of the virtio 1.0/1.1 common configuration structure (up to queue_device). */
    public static final int COMMON_LENGTH = 0x38;
    public static final long ISR_OFFSET = 0x1000;
    public static final int ISR_LENGTH = 1;
    public static final long DEVICE_OFFSET = 0x2000;
    /** Bytes between consecutive queues' notify registers. */
    public static final int NOTIFY_OFF_MULTIPLIER = 4;

    /** The layout for a device with {@code queues} queues, a config space and MSI-X vectors. */
    public static VirtioPciLayout of(int queues, int deviceConfigLength, int msixVectors) {
        if (queues < 0 || queues > 0xFFFF) throw new IllegalArgumentException("queue count " + queues);
        if (deviceConfigLength < 0 || deviceConfigLength > 0x1_0000) {
            throw new IllegalArgumentException("device config length " + deviceConfigLength);
        }
        long notify = DEVICE_OFFSET + pages(Math.max(deviceConfigLength, 1));
        long table = notify + pages((long) NOTIFY_OFF_MULTIPLIER * Math.max(queues, 1));
        long pba = table + pages(16L * msixVectors);
        long end = pba + pages(8L * ((msixVectors + 63) / 64));
        long size = Math.max(0x4000, Long.highestOneBit(end - 1) << 1);
        return new VirtioPciLayout(queues, deviceConfigLength, msixVectors, notify, table, pba, size);
    }

    private static long pages(long bytes) {
        return (bytes + PAGE - 1) & ~(PAGE - 1);
    }

    /** Bytes of the notify region: one register per queue. */
    public long notifyLength() {
        return (long) NOTIFY_OFF_MULTIPLIER * Math.max(queues, 1);
    }
}
