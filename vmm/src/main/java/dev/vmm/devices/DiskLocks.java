package dev.vmm.devices;

/**
 * A device that holds image locks which a live migration hands over: the source releases them
 * (after making its writes durable) just before the destination starts, the destination takes them
 * then. Registered by the attach code of each device kind that has disks.
 */
public interface DiskLocks {
    /** Makes every write durable and drops the locks. */
    void release();

    /** Takes the locks (again); a {@link dev.vmm.virtio.blk.BlkBackendException} while another holds one. */
    void acquire();
}
