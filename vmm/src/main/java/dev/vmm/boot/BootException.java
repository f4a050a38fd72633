package dev.vmm.boot;

/** A kernel image that cannot be booted as given: the message is one line for the user. */
public final class BootException extends RuntimeException implements dev.vmm.error.UserFixable {
    public BootException(String message) {
        super(message);
    }
}
