package dev.vmm.virtio;

import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.queue.SplitQueue;

import java.util.List;

/**
 * A virtio device as its transport sees it, independent of PCI or MMIO (rust-vmm's VirtioDevice,
 * Firecracker's and Cloud Hypervisor's equivalents). The transport owns the register file,
 * {@link DeviceStatus} and the {@link SplitQueue} configuration; the device owns its config space
 * and, once activated, serves the queues.
 *
 * <p><b>Life cycle.</b> Transport constructs with the device → driver negotiates features (the
 * transport checks them with {@link DeviceStatus}) → driver configures queues → DRIVER_OK: the
 * transport {@link SplitQueue#activate(GuestMemory) activates} every ready queue and calls
 * {@link #activate}. A write of 0 to device status (or a fatal error) ends it with {@link #reset()},
 * after which the transport resets its queues and may activate the device again.
 *
 * <p><b>Threads.</b> {@link #readConfig}, {@link #writeConfig}, {@link #queueNotify},
 * {@link #activate} and {@link #reset} are called by the transport on vCPU threads, serialised by
 * the transport's lock. The queues passed to {@code activate} then belong to the device, which
 * typically hands each one to a single I/O thread (see {@link SplitQueue} for the threading
 * contract); the transport does not touch them again until {@code reset()} returns.
 */
public interface VirtioDevice {
    /** The virtio device type. */
    VirtioDeviceType deviceType();

    /**
     * The features the device offers; constant for the device's lifetime. Must include
     * {@link VirtioFeatures#VIRTIO_F_VERSION_1} (the transports here are modern-only).
     */
    long deviceFeatures();

    /** Number of virtqueues the device has (fixed). */
    int queueCount();

    /** Largest size of queue {@code queueIndex}: a power of two, at most 32768. */
    int queueMaxSize(int queueIndex);

    /** Size in bytes of the device-specific configuration space. */
    int configSize();

    /**
     * A driver load of {@code size} bytes (1, 2, 4 or 8) at {@code offset} in the device config
     * space, little-endian, zero-extended. Out-of-range reads return 0; never throws.
     */
    long readConfig(int offset, int size);

    /**
     * A driver store of the low {@code size} bytes of {@code value} at {@code offset} in the
     * device config space. Read-only or out-of-range fields are ignored; never throws. The default
     * is for a config space the driver cannot write at all: every store is ignored.
     */
    default void writeConfig(int offset, int size, long value) { }

    /**
     * DRIVER_OK: start serving the queues. {@code negotiatedFeatures} is what the driver accepted
     * (a subset of {@link #deviceFeatures()} containing VERSION_1). {@code queues} has
     * {@link #queueCount()} entries in queue-index order; the ready ones are already activated over
     * {@code memory}, the others have {@link SplitQueue#isReady()} false and must be left alone.
     * Must not block on guest progress; start I/O threads or register with an event loop instead.
     *
     * @throws ActivationException if the device cannot run with this configuration
     */
    void activate(GuestMemory memory, long negotiatedFeatures, List<SplitQueue> queues, VirtioInterrupt interrupt)
            throws ActivationException;

    /**
     * The driver wrote to queue {@code queueIndex}'s notify register (an available-buffer
     * notification) and no ioeventfd took it. Called on a vCPU thread only while activated: must
     * only wake the thread serving that queue, never process the queue inline.
     */
    void queueNotify(int queueIndex);

    /**
     * Device reset (status 0 or transport teardown): stop serving the queues — when this returns
     * no thread of the device touches them or guest memory any more — and return config space to
     * its initial state. Safe to call when not activated.
     */
    void reset();
}
