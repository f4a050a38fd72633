package dev.vmm.virtio;

/**
 * A device refused to go live on DRIVER_OK (a required queue is not ready, a backend failed to
 * open...). The transport answers by setting DEVICE_NEEDS_RESET; the message is one line for the log.
 */
public final class ActivationException extends Exception {
    public ActivationException(String message) {
        super(message);
    }

    public ActivationException(String message, Throwable cause) {
        super(message, cause);
    }
}
