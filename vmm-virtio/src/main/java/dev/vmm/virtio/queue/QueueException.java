package dev.vmm.virtio.queue;

/**
 * A virtqueue could not be used as configured or as the driver filled it. {@link #error()} says
 * what kind of violation; the message is one line naming the queue and the offending values.
 *
 * <p>Guest-triggered, so no stack trace is captured: it would only show the device's own loop, and
 * a hostile guest should not be able to make the VMM do expensive work per bad descriptor.
 */
public final class QueueException extends Exception {
    private final QueueError error;

    public QueueException(QueueError error, String message) {
        super(message, null, false, false);
        this.error = error;
    }

    public QueueError error() { return error; }

    @Override
    public String toString() {
        return "QueueException[" + error + "]: " + getMessage();
    }
}
