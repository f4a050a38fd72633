package dev.vmm.virtio;

/**
 * How an activated device signals its driver. Implemented by the transport (PCI: MSI-X vector per
 * queue, or INTx plus the ISR status register), handed to {@link VirtioDevice#activate}.
 *
 * <p>Thread-safe: called from the device's I/O thread(s) while vCPU threads touch the transport.
 * Calls must be cheap and never block on the guest (an eventfd write, an irqfd, a KVM ioctl).
 */
public interface VirtioInterrupt {
    /**
     * The device put buffers in the used ring of queue {@code queueIndex} and
     * {@link dev.vmm.virtio.queue.SplitQueue#needsNotification()} said the driver wants to know.
     */
    void signalUsedBuffer(int queueIndex);

    /** The device configuration space changed (the transport bumps config_generation first). */
    void signalConfigChange();

    /**
     * The device hit an unrecoverable error, typically a {@link dev.vmm.virtio.queue.QueueException}
     * caused by a misbehaving driver: the transport sets DEVICE_NEEDS_RESET in device status and,
     * if DRIVER_OK was set, sends a configuration change notification (virtio 1.x §2.1.2). The
     * device stops using its queues until {@link VirtioDevice#reset()}. {@code reason} is one line
     * for the log.
     */
    void deviceNeedsReset(String reason);
}
