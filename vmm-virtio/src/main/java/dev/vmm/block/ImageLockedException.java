package dev.vmm.block;

/**
 * An image's lock is held by another open file description (another VMM, qemu-img, another
 * device of this one): a user's error, one line. Callers that word the conflict their own way
 * (the io_uring raw backend) catch this one apart from other lock failures.
 */
public final class ImageLockedException extends BlockException {
    public ImageLockedException(String message) { super(message); }
}
