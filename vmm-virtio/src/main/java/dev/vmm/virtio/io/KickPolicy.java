package dev.vmm.virtio.io;

/**
 * When the request workers of virtio-blk and virtio-scsi ask the driver for kicks again.
 *
 * <p>A kick costs the guest a VM exit (an MMIO or port write trapped by KVM), and the I/O thread
 * a wake-up. While requests of a queue are in flight the worker looks at the avail ring at every
 * completion round anyway, so it keeps kicks off (VIRTQ_USED_F_NO_NOTIFY, or avail_event left
 * behind with EVENT_IDX) until nothing is in flight; then it re-arms them and looks once more.
 * The guest kit's blk guest at queue depth 32 kicked for 84 % of its requests before.
 *
 * <p>{@code -Dvmm.virtio.pickUpOnCompletion=false} restores re-arming after every pop loop (for
 * comparison in {@code benchmarks/blk/run.sh}, runner {@code vmm-kick}).
 */
public final class KickPolicy {
    /** Keep kicks off while requests are in flight, and pick up new ones at each completion round. */
    public static final boolean PICK_UP_ON_COMPLETION =
            Boolean.parseBoolean(System.getProperty("vmm.virtio.pickUpOnCompletion", "true"));

    private KickPolicy() {}
}
