package dev.vmm.virtio.net.tap;

/** A tap or bridge problem the user must fix; the message is one line meant for them. */
public final class TapException extends RuntimeException implements dev.vmm.error.UserFixable {
    public TapException(String message) {
        super(message);
    }
}
