package dev.vmm.virtio.scsi;

/**
 * Sizes of a virtio-scsi controller.
 *
 * @param numQueues  request queues (the device has two more: control and event); default = vCPUs
 * @param queueSize  entries per virtqueue (power of two, ≤ 32768)
 * @param segMax     most data segments per command advertised to the driver
 * @param maxSectors largest transfer in 512-byte sectors advertised (the units' block limits agree)
 * @param cmdPerLun  commands per LUN the driver may queue
 * @param workers    threads of the disk worker pool (commands that touch a disk run there, never on
 *                   an I/O thread)
 */
public record ScsiConfig(int numQueues, int queueSize, int segMax, int maxSectors, int cmdPerLun, int workers) {
    public static final int DEFAULT_QUEUE_SIZE = 256;
    public static final int MAX_QUEUES = 64;

    public ScsiConfig {
        if (numQueues < 1 || numQueues > MAX_QUEUES) throw new IllegalArgumentException("virtio-scsi: queues must be 1.." + MAX_QUEUES + ", not " + numQueues);
        if (queueSize < 2 || queueSize > 32768 || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("virtio-scsi: queue size must be a power of two in 2..32768, not " + queueSize);
        }
        if (segMax < 1) throw new IllegalArgumentException("virtio-scsi: seg_max must be at least 1");
        if (maxSectors < 1) throw new IllegalArgumentException("virtio-scsi: max_sectors must be at least 1");
        if (cmdPerLun < 1 || cmdPerLun > queueSize) throw new IllegalArgumentException("virtio-scsi: cmd_per_lun must be 1.." + queueSize);
        if (workers < 1) throw new IllegalArgumentException("virtio-scsi: at least one worker thread");
    }

    /** {@code queues} request queues of 256 entries, seg_max 254, max_sectors 0xFFFF, cmd_per_lun 128, 2 workers. */
    public static ScsiConfig of(int queues) {
        return new ScsiConfig(queues, DEFAULT_QUEUE_SIZE, DEFAULT_QUEUE_SIZE - 2, 0xFFFF, 128, Math.max(2, Math.min(queues, 8)));
    }

    public ScsiConfig withQueueSize(int n) {
        return new ScsiConfig(numQueues, n, Math.min(segMax, Math.max(1, n - 2)), maxSectors, Math.min(cmdPerLun, n), workers);
    }

    public ScsiConfig withWorkers(int n) {
        return new ScsiConfig(numQueues, queueSize, segMax, maxSectors, cmdPerLun, n);
    }
}
