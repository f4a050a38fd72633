package dev.vmm.virtio;

/**
 * A {@link VirtioDevice} whose state can be saved (snapshot, live migration) and put back into a
 * device built from the same command line. The transport saves its own part (status, features,
 * queue configuration and ring positions); this is the device's part: config-space fields the
 * driver changed, control-queue settings, and the check that the backend on the other side is the
 * same shape (capacity, queue count, ...).
 *
 * <p>Sequence on save (vCPUs paused): {@link #quiesce} → transport state → {@link #saveState} →
 * either {@code activate} again (the source continues) or nothing (the machine goes away).
 * Sequence on restore: a freshly built, never activated device → {@link #loadState} → the
 * transport activates it over queues at the saved ring positions.
 */
public interface MigratableDevice extends VirtioDevice {
    /** Version of the {@link #saveState} format; {@link #loadState} reads 1..this. */
    int stateVersion();

    /**
     * Finishes every request in flight — each completes to the used ring (and is signalled) —
     * then stops the device's threads as {@link #reset()} would, but keeps the device's own state
     * (config space, control settings) for {@link #saveState}. Called with the vCPUs paused, so no
     * new kick arrives. Returns, per queue index, how many chains the device had popped and still
     * held without completing them (buffers waiting for data, e.g. receive buffers): the transport
     * moves that queue's next-available position back by as many, so they are popped again after
     * the restore (they are always the most recently popped chains of that queue).
     */
    int[] quiesce();

    /** The device's own state after {@link #quiesce}. */
    byte[] saveState();

    /**
     * Loads {@link #saveState} output of version {@code version} into this never-activated device.
     *
     * @throws IllegalArgumentException with a message naming what differs (e.g. the disk's size)
     *                                  when the state does not fit this device or is malformed
     */
    void loadState(int version, byte[] state);
}
