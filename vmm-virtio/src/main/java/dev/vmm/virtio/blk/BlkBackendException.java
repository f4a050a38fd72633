package dev.vmm.virtio.blk;

/** A disk backend could not be opened (missing file, lock held elsewhere, O_DIRECT refused...): one line. */
public final class BlkBackendException extends RuntimeException implements dev.vmm.error.UserFixable {
    public BlkBackendException(String message) {
        super(message);
    }

    public BlkBackendException(String message, Throwable cause) {
        super(message, cause);
    }
}
