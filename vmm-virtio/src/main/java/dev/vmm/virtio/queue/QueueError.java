package dev.vmm.virtio.queue;

/**
 * What a driver (or, for {@link #NOT_ACTIVATED}, a device) got wrong with a virtqueue. Every value
 * is a violation the device must not paper over: the device stops using the queue and asks for a
 * reset ({@link dev.vmm.virtio.VirtioInterrupt#deviceNeedsReset}).
 */
public enum QueueError {
    // Configuration, found by SplitQueue.activate.
    /** Queue size is 0, not a power of two, or above the maximum size. */
    INVALID_SIZE,
    /** Descriptor table not 16-byte, available ring not 2-byte, or used ring not 4-byte aligned. */
    MISALIGNED_RING,
    /** A ring does not lie entirely inside one region of guest RAM. */
    RING_OUTSIDE_RAM,
    /** pop/addUsed on a queue that was not activated (a device bug, or used after reset). */
    NOT_ACTIVATED,
    /** An earlier error broke the queue; it stays unusable until reset. */
    BROKEN,

    // Available ring.
    /** avail->idx moved more than the queue size past the device's position. */
    AVAIL_INDEX_JUMP,
    /** An available ring entry names a descriptor index ≥ queue size. */
    HEAD_OUT_OF_RANGE,

    // Descriptor chains.
    /** A descriptor's next field is ≥ the queue size (or outside its indirect table). */
    NEXT_OUT_OF_RANGE,
    /** A chain is longer than the queue size or its indirect table: it loops. */
    CHAIN_TOO_LONG,
    /** A buffer (addr, len) is not inside one region of guest RAM, or addr+len overflows. */
    BUFFER_OUTSIDE_RAM,
    /** A device-readable descriptor follows a device-writable one. */
    READABLE_AFTER_WRITABLE,
    /** An indirect table contains a descriptor with VIRTQ_DESC_F_INDIRECT. */
    NESTED_INDIRECT,
    /** A descriptor has both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT. */
    INDIRECT_WITH_NEXT,
    /** An indirect table length is zero, not a multiple of 16, or too large. */
    INDIRECT_TABLE_LENGTH,
    /** An indirect table does not lie inside one region of guest RAM. */
    INDIRECT_TABLE_OUTSIDE_RAM,
}
