package dev.vmm.virtio.queue;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The device side of one split virtqueue (virtio 1.x §2.7), in the spirit of rust-vmm's
 * virtio-queue: a plain object over {@link GuestMemory} with no threads and no transport.
 *
 * <p><b>Configuration</b> (transport, while the queue is not live): {@link #setSize},
 * {@link #setAddress} of each {@link Ring} (or {@link #setRings}), {@link #setReady},
 * {@link #setEventIdx}; then {@link #activate(GuestMemory)} validates sizes, alignment and that
 * each ring lies inside one RAM region, and binds the rings. {@link #reset()} returns to power-on.
 *
 * <p><b>Data plane</b> (device): {@link #pop(DescriptorChain)} takes the next available chain,
 * following and validating its descriptors; {@link #addUsed} returns it; {@link #needsNotification()}
 * decides whether to interrupt the driver (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event);
 * {@link #disableNotification()} / {@link #enableNotification()} suppress the driver's kicks while
 * the device is busy (VIRTQ_USED_F_NO_NOTIFY or avail_event). A typical service loop:
 * <pre>{@code
 * do {
 *     queue.disableNotification();
 *     while (queue.pop(chain)) { process(chain); queue.addUsed(chain.head(), written); }
 * } while (queue.enableNotification());           // re-armed; true = more arrived meanwhile
 * if (queue.needsNotification()) interrupt.signalUsedBuffer(index);
 * }</pre>
 * A device that never disables notifications may simply drain with {@code pop} until it returns
 * false: with notifications enabled an empty {@code pop} re-arms avail_event itself, race-free.
 *
 * <p><b>Errors.</b> Everything the driver controls is validated; a violation throws a
 * {@link QueueException} naming it, and the queue stays broken (every later pop throws
 * {@link QueueError#BROKEN}) until reset: the device then calls
 * {@link dev.vmm.virtio.VirtioInterrupt#deviceNeedsReset}. No guest value can make this class touch
 * memory outside guest RAM or throw anything else. Misuse by the device (bad head in addUsed, more
 * used than popped) is a VMM bug and throws {@link IllegalArgumentException} / {@link IllegalStateException}.
 *
 * <p><b>Threading.</b> Not thread-safe. Configuration happens on the transport's (vCPU) thread
 * before activation; after the device receives the activated queue, exactly one thread at a time
 * (normally the queue's single I/O thread) calls the data-plane methods, and the hand-over between
 * threads must be a happens-before edge (thread start, a concurrent queue, a lock). The driver
 * runs concurrently on vCPUs; ordering against it is done with fences: an acquire fence after
 * reading avail idx, a release fence before publishing used idx, and full fences between a store
 * the other side reads and a load that decides about notifications (§2.7.7, §2.7.10).
 *
 * <p><b>Performance.</b> The rings are bound once to host memory at activation; pop, addUsed and
 * the notification methods allocate nothing (a chain object is reused) and read each descriptor
 * with two loads. Each descriptor is read once, into locals, and validated there, so a driver
 * rewriting the table concurrently cannot slip an unchecked value past the checks.
 */
public final class SplitQueue {
    /** Largest queue size virtio allows. */
    public static final int MAX_SIZE = 32768;
    /**
     * Largest indirect table accepted, in descriptors. The spec sets no bound; 4096 is 4x QEMU's
     * limit (which Linux drivers honour) and bounds what a chain object may grow to.
     */
    public static final int MAX_INDIRECT_DESCRIPTORS = 4096;

    static final int DESCRIPTOR_SIZE = 16;
    static final int VIRTQ_DESC_F_NEXT = 1;
    static final int VIRTQ_DESC_F_WRITE = 2;
    static final int VIRTQ_DESC_F_INDIRECT = 4;
    static final int VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
    static final int VIRTQ_USED_F_NO_NOTIFY = 1;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int maxSize;

    // Configuration, written by the transport.
    private int size;
    private long descTable;
    private long availRing;
    private long usedRing;
    private boolean ready;
    private boolean eventIdx;

    // Bound at activation.
    private GuestMemory memory;
    private MemorySegment desc;
    private MemorySegment avail;
    private MemorySegment used;
    private int mask;

    // Device-side state (16-bit ring indices kept in ints, always masked to 0..65535).
    private int nextAvail;
    private int nextUsed;
    /** Last avail->idx read from the guest; avoids re-reading it while there is known work. */
    private int shadowAvailIdx;
    /** used->idx when the driver was last signalled, or -1 when unknown (always signal). */
    private int signalledUsed = -1;
    /** Whether addUsed published anything since the last {@link #needsNotification()}. */
    private boolean usedSinceCheck;
    private boolean notificationsEnabled = true;
    /** Value last written to avail_event, or -1. */
    private int publishedAvailEvent = -1;
    private int usedFlags;
    private String brokenReason;

    public SplitQueue(int maxSize) {
        if (maxSize < 1 || maxSize > MAX_SIZE || Integer.bitCount(maxSize) != 1) {
            throw new IllegalArgumentException("queue max size " + maxSize + " is not a power of two in 1.." + MAX_SIZE);
        }
        this.maxSize = maxSize;
        this.size = maxSize;
    }

    // ------------------------------------------------------------------ configuration

    public int maxSize() { return maxSize; }

    public int size() { return size; }

    /*
     * Setters return false and change nothing while the queue is activated: the driver may only
     * configure a queue before DRIVER_OK (transports gate on DeviceStatus.queueSetupAllowed(), and
     * this keeps a live queue consistent even if one does not).
     */

    /** The driver's queue size; checked by {@link #activate}. Values are taken as unsigned 16-bit. */
    public boolean setSize(int size) {
        if (isActivated()) return false;
        this.size = size & 0xFFFF;
        return true;
    }

    /** The three areas of a split virtqueue the driver places: queue_desc, queue_driver, queue_device (§4.1.4.3). */
    public enum Ring { DESC, DRIVER, DEVICE }

    /** Where the driver placed {@code ring} (a guest-physical address; 0 after reset). */
    public long address(Ring ring) {
        return switch (ring) {
            case DESC -> descTable;
            case DRIVER -> availRing;
            case DEVICE -> usedRing;
        };
    }

    /** Places {@code ring} at {@code gpa}; checked by {@link #activate}. */
    public boolean setAddress(Ring ring, long gpa) {
        if (isActivated()) return false;
        switch (ring) {
            case DESC -> descTable = gpa;
            case DRIVER -> availRing = gpa;
            case DEVICE -> usedRing = gpa;
        }
        return true;
    }

    /** Places all three rings, as a driver setting a queue up does; false while the queue is activated. */
    public boolean setRings(long desc, long driver, long device) {
        return setAddress(Ring.DESC, desc) && setAddress(Ring.DRIVER, driver) && setAddress(Ring.DEVICE, device);
    }

    /** The driver's queue_enable. A ready queue is activated on DRIVER_OK. */
    public boolean isReady() { return ready; }

    public void setReady(boolean ready) { this.ready = ready; }

    public boolean eventIdx() { return eventIdx; }

    /** Whether VIRTIO_F_EVENT_IDX was negotiated (set before {@link #activate}). */
    public boolean setEventIdx(boolean eventIdx) {
        if (isActivated()) return false;
        this.eventIdx = eventIdx;
        return true;
    }

    /** Whether {@link #activate} succeeded and no reset happened since. */
    public boolean isActivated() { return memory != null; }

    /** Why the queue is broken, or null. */
    public String brokenReason() { return brokenReason; }

    /**
     * Checks the configuration against {@code memory} without binding anything.
     *
     * @throws QueueException INVALID_SIZE, MISALIGNED_RING or RING_OUTSIDE_RAM
     */
    public void validate(GuestMemory memory) throws QueueException {
        if (size == 0 || size > maxSize || Integer.bitCount(size) != 1) {
            throw new QueueException(QueueError.INVALID_SIZE,
                    "queue size " + size + " is not a power of two in 1.." + maxSize);
        }
        checkAligned("descriptor table", descTable, 16);
        checkAligned("available ring", availRing, 2);
        checkAligned("used ring", usedRing, 4);
        checkInRam(memory, "descriptor table", descTable, descTableBytes(size));
        checkInRam(memory, "available ring", availRing, availRingBytes(size));
        checkInRam(memory, "used ring", usedRing, usedRingBytes(size));
    }

    /**
     * Validates the configuration and binds the rings to {@code memory}: the data plane may start.
     * Keeps nextAvail/nextUsed (0 after reset, or restored with {@link #setNextAvail}/{@link #setNextUsed}).
     */
    public void activate(GuestMemory memory) throws QueueException {
        validate(memory);
        this.desc = memory.slice(descTable, descTableBytes(size));
        this.avail = memory.slice(availRing, availRingBytes(size));
        this.used = memory.slice(usedRing, usedRingBytes(size));
        this.mask = size - 1;
        this.memory = memory;
        this.shadowAvailIdx = nextAvail;
        this.signalledUsed = -1;
        this.usedSinceCheck = false;
        this.notificationsEnabled = true;
        this.publishedAvailEvent = -1;
        this.usedFlags = 0;
        this.brokenReason = null;
        if (eventIdx) publishAvailEvent(nextAvail);
    }

    /** Back to power-on: max size, no rings, not ready, indices 0, unbound. */
    public void reset() {
        size = maxSize;
        descTable = availRing = usedRing = 0;
        ready = false;
        eventIdx = false;
        memory = null;
        desc = avail = used = null;
        nextAvail = nextUsed = shadowAvailIdx = 0;
        signalledUsed = -1;
        usedSinceCheck = false;
        notificationsEnabled = true;
        publishedAvailEvent = -1;
        usedFlags = 0;
        brokenReason = null;
    }

    /** The device's position in the available ring (for snapshots). */
    public int nextAvail() { return nextAvail; }

    /** The device's position in the used ring (for snapshots). */
    public int nextUsed() { return nextUsed; }

    /** Restores the available-ring position before activation (snapshot restore). */
    public boolean setNextAvail(int index) {
        if (isActivated()) return false;
        nextAvail = index & 0xFFFF;
        shadowAvailIdx = nextAvail;
        return true;
    }

    /** Restores the used-ring position before activation (snapshot restore). */
    public boolean setNextUsed(int index) {
        if (isActivated()) return false;
        nextUsed = index & 0xFFFF;
        return true;
    }

    // ------------------------------------------------------------------ data plane

    /**
     * Takes the next available descriptor chain into {@code chain}. Returns false if the driver
     * has made nothing new available.
     *
     * @throws QueueException if the available ring or the chain is malformed; the queue is broken
     */
    public boolean pop(DescriptorChain chain) throws QueueException {
        checkUsable();
        if (nextAvail == shadowAvailIdx && !refreshAvailIdx()) {
            if (!notificationsEnabled || !eventIdx || publishedAvailEvent == nextAvail) return false;
            // Going idle with EVENT_IDX: ask for a kick on the next buffer, then look again in case
            // the driver added one before it could see the new avail_event (it would not kick).
            publishAvailEvent(nextAvail);
            VarHandle.fullFence();
            if (!refreshAvailIdx()) return false;
        }
        int head = Short.toUnsignedInt(avail.get(U16, 4 + 2L * (nextAvail & mask)));
        if (head >= size) {
            throw broken(QueueError.HEAD_OUT_OF_RANGE,
                    "available ring entry " + nextAvail + " names descriptor " + head + ", queue size is " + size);
        }
        walkChain(head, chain);
        nextAvail = (nextAvail + 1) & 0xFFFF;
        return true;
    }

    /** Allocating convenience for {@link #pop(DescriptorChain)}: a new chain, or null if none is available. */
    public DescriptorChain pop() throws QueueException {
        DescriptorChain chain = new DescriptorChain();
        return pop(chain) ? chain : null;
    }

    /**
     * Returns chain {@code head} to the driver, having written {@code len} bytes into its writable
     * buffers, and publishes the new used idx.
     */
    public void addUsed(int head, int len) throws QueueException {
        checkActivated();
        if (head < 0 || head >= size) throw new IllegalArgumentException("used head " + head + " outside queue of size " + size);
        if (nextUsed == nextAvail) throw new IllegalStateException("more used buffers than available ones were popped");
        long entry = Integer.toUnsignedLong(head) | ((long) len << 32);
        used.set(U64, 4 + 8L * (nextUsed & mask), entry);
        nextUsed = (nextUsed + 1) & 0xFFFF;
        // The element must be visible before the index that publishes it (§2.7.8.2).
        VarHandle.releaseFence();
        used.set(U16, 2, (short) nextUsed);
        usedSinceCheck = true;
    }

    /**
     * Whether the driver wants a used-buffer notification for what {@link #addUsed} published
     * since the last notification. Call after a batch of addUsed; a true answer is remembered as
     * "signalled", so signal when it says so.
     */
    public boolean needsNotification() throws QueueException {
        checkActivated();
        // The used idx store must be visible before we read the driver's suppression state, or we
        // could miss a driver that just re-enabled interrupts after seeing the old idx.
        VarHandle.fullFence();
        if (!usedSinceCheck) return false;
        usedSinceCheck = false;
        int old = signalledUsed;
        int now = nextUsed;
        signalledUsed = now;
        if (eventIdx) {
            int usedEvent = Short.toUnsignedInt(avail.get(U16, 4 + 2L * size));
            return old < 0 || needEvent(usedEvent, now, old);
        }
        return (avail.get(U16, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0;
    }

    /**
     * Asks the driver not to kick this queue while the device is busy with it (VIRTQ_USED_F_NO_NOTIFY;
     * with EVENT_IDX, simply stops moving avail_event forward). Best effort, as the spec says.
     */
    public void disableNotification() throws QueueException {
        checkActivated();
        notificationsEnabled = false;
        if (!eventIdx && (usedFlags & VIRTQ_USED_F_NO_NOTIFY) == 0) {
            usedFlags |= VIRTQ_USED_F_NO_NOTIFY;
            used.set(U16, 0, (short) usedFlags);
        }
    }

    /**
     * Asks the driver to kick again for new buffers (clears VIRTQ_USED_F_NO_NOTIFY, or sets
     * avail_event to the device's position), then re-checks the ring. Returns true if buffers are
     * available, which the driver may have added without kicking: the device must pop them.
     */
    public boolean enableNotification() throws QueueException {
        checkActivated();
        notificationsEnabled = true;
        if (eventIdx) {
            publishAvailEvent(nextAvail);
        } else if ((usedFlags & VIRTQ_USED_F_NO_NOTIFY) != 0) {
            usedFlags &= ~VIRTQ_USED_F_NO_NOTIFY;
            used.set(U16, 0, (short) usedFlags);
        }
        VarHandle.fullFence();
        int idx = Short.toUnsignedInt(avail.get(U16, 2));
        VarHandle.acquireFence();
        return idx != nextAvail;
    }

    /**
     * The spec's vring_need_event: whether moving the used idx from {@code oldIdx} to
     * {@code newIdx} crossed {@code eventIdx}, i.e. the entry at {@code eventIdx} was written.
     * All values are 16-bit ring indices.
     */
    public static boolean needEvent(int eventIdx, int newIdx, int oldIdx) {
        return ((newIdx - eventIdx - 1) & 0xFFFF) < ((newIdx - oldIdx) & 0xFFFF);
    }

    /** Bytes of a descriptor table for {@code size} entries. */
    public static long descTableBytes(int size) { return 16L * size; }

    /** Bytes of an available ring, used_event included. */
    public static long availRingBytes(int size) { return 6L + 2L * size; }

    /** Bytes of a used ring, avail_event included. */
    public static long usedRingBytes(int size) { return 6L + 8L * size; }

    @Override
    public String toString() {
        return String.format("SplitQueue[size=%d/%d desc=0x%x avail=0x%x used=0x%x ready=%b eventIdx=%b nextAvail=%d nextUsed=%d%s]",
                size, maxSize, descTable, availRing, usedRing, ready, eventIdx, nextAvail, nextUsed,
                brokenReason == null ? "" : " broken: " + brokenReason);
    }

    // ------------------------------------------------------------------ internals

    /** Reads avail->idx; returns whether it is ahead of nextAvail. */
    private boolean refreshAvailIdx() throws QueueException {
        int idx = Short.toUnsignedInt(avail.get(U16, 2));
        // Ring entries and descriptors are read after the index that published them (§2.7.13).
        VarHandle.acquireFence();
        int pending = (idx - nextAvail) & 0xFFFF;
        if (pending > size) {
            throw broken(QueueError.AVAIL_INDEX_JUMP,
                    "available idx " + idx + " is " + pending + " entries past the device's " + nextAvail + ", more than queue size " + size);
        }
        shadowAvailIdx = idx;
        return pending != 0;
    }

    private void publishAvailEvent(int value) {
        used.set(U16, 4 + 8L * size, (short) value);
        publishedAvailEvent = value;
    }

    private void walkChain(int head, DescriptorChain chain) throws QueueException {
        chain.start(memory, head);
        int index = head;
        for (int visited = 0; ; visited++) {
            if (visited == size) {
                throw broken(QueueError.CHAIN_TOO_LONG,
                        "chain from head " + head + " is longer than queue size " + size + " (a loop)");
            }
            long offset = (long) index * DESCRIPTOR_SIZE;
            long addr = desc.get(U64, offset);
            long word = desc.get(U64, offset + 8);
            int len = (int) word;
            int flags = (int) (word >>> 32) & 0xFFFF;
            int next = (int) (word >>> 48);
            if ((flags & VIRTQ_DESC_F_INDIRECT) != 0) {
                if ((flags & VIRTQ_DESC_F_NEXT) != 0) {
                    throw broken(QueueError.INDIRECT_WITH_NEXT,
                            "descriptor " + index + " (chain " + head + ") has both INDIRECT and NEXT flags");
                }
                walkIndirect(head, index, addr, len, chain);
                return;
            }
            addBuffer(chain, head, false, index, addr, len, flags);
            if ((flags & VIRTQ_DESC_F_NEXT) == 0) return;
            if (next >= size) {
                throw broken(QueueError.NEXT_OUT_OF_RANGE,
                        "descriptor " + index + " (chain " + head + ") has next " + next + ", queue size is " + size);
            }
            index = next;
        }
    }

    private void walkIndirect(int head, int at, long tableAddr, int tableLen, DescriptorChain chain) throws QueueException {
        long bytes = Integer.toUnsignedLong(tableLen);
        if (bytes == 0 || bytes % DESCRIPTOR_SIZE != 0 || bytes > (long) MAX_INDIRECT_DESCRIPTORS * DESCRIPTOR_SIZE) {
            throw broken(QueueError.INDIRECT_TABLE_LENGTH,
                    "indirect table of descriptor " + at + " (chain " + head + ") is " + bytes
                            + " bytes: not a non-zero multiple of 16 up to " + MAX_INDIRECT_DESCRIPTORS + " descriptors");
        }
        GuestRegion region = memory.regionFor(tableAddr, bytes);
        if (region == null) {
            throw broken(QueueError.INDIRECT_TABLE_OUTSIDE_RAM, String.format(
                    "indirect table 0x%x+0x%x of descriptor %d (chain %d) is not inside guest RAM", tableAddr, bytes, at, head));
        }
        chain.markIndirect();
        MemorySegment host = region.host();
        long base = tableAddr - region.base();
        int entries = (int) (bytes / DESCRIPTOR_SIZE);
        int index = 0;
        for (int visited = 0; ; visited++) {
            if (visited == entries) {
                throw broken(QueueError.CHAIN_TOO_LONG,
                        "indirect chain of descriptor " + at + " (chain " + head + ") is longer than its table of " + entries + " (a loop)");
            }
            long offset = base + (long) index * DESCRIPTOR_SIZE;
            long addr = host.get(U64, offset);
            long word = host.get(U64, offset + 8);
            int len = (int) word;
            int flags = (int) (word >>> 32) & 0xFFFF;
            int next = (int) (word >>> 48);
            if ((flags & VIRTQ_DESC_F_INDIRECT) != 0) {
                throw broken(QueueError.NESTED_INDIRECT,
                        "indirect descriptor " + index + " of chain " + head + " is itself INDIRECT");
            }
            addBuffer(chain, head, true, index, addr, len, flags);
            if ((flags & VIRTQ_DESC_F_NEXT) == 0) return;
            if (next >= entries) {
                throw broken(QueueError.NEXT_OUT_OF_RANGE,
                        "indirect descriptor " + index + " of chain " + head + " has next " + next + ", table has " + entries);
            }
            index = next;
        }
    }

    private void addBuffer(DescriptorChain chain, int head, boolean inIndirect, int index, long addr, int len, int flags)
            throws QueueException {
        long length = Integer.toUnsignedLong(len);
        if (!memory.isValid(addr, length)) {
            throw broken(QueueError.BUFFER_OUTSIDE_RAM, String.format("%s %d of chain %d: buffer 0x%x+0x%x is not inside one region of guest RAM",
                    inIndirect ? "indirect descriptor" : "descriptor", index, head, addr, length));
        }
        if (!chain.add(addr, len, (flags & VIRTQ_DESC_F_WRITE) != 0)) {
            throw broken(QueueError.READABLE_AFTER_WRITABLE, String.format("%s %d of chain %d is device-readable after a device-writable one",
                    inIndirect ? "indirect descriptor" : "descriptor", index, head));
        }
    }

    private QueueException broken(QueueError error, String message) {
        brokenReason = message;
        return new QueueException(error, message);
    }

    private void checkUsable() throws QueueException {
        checkActivated();
        if (brokenReason != null) {
            throw new QueueException(QueueError.BROKEN, "queue is broken until reset: " + brokenReason);
        }
    }

    private void checkActivated() throws QueueException {
        if (memory == null) throw new QueueException(QueueError.NOT_ACTIVATED, "queue is not activated");
    }

    private static void checkAligned(String what, long gpa, int alignment) throws QueueException {
        if ((gpa & (alignment - 1)) != 0) {
            throw new QueueException(QueueError.MISALIGNED_RING,
                    String.format("%s address 0x%x is not %d-byte aligned", what, gpa, alignment));
        }
    }

    private static void checkInRam(GuestMemory memory, String what, long gpa, long bytes) throws QueueException {
        if (!memory.isValid(gpa, bytes)) {
            throw new QueueException(QueueError.RING_OUTSIDE_RAM,
                    String.format("%s 0x%x+0x%x is not inside one region of guest RAM", what, gpa, bytes));
        }
    }
}
