package dev.vmm.virtio.blk;

/**
 * The part of a {@link BlkBackend} that is the same for every backend: the disk's size, whether
 * it is read-only or write-through, and its default serial, fixed when the backend is opened (the
 * interface promises they are constant for the backend's life and readable from any thread).
 */
abstract class AbstractBlkBackend implements BlkBackend {
    private final long size;
    private final boolean readOnly;
    private final boolean writeThrough;
    private final String serial;

    /** {@code serial} null means none (GET_ID then answers an empty identity). */
    AbstractBlkBackend(long size, boolean readOnly, boolean writeThrough, String serial) {
        this.size = size;
        this.readOnly = readOnly;
        this.writeThrough = writeThrough;
        this.serial = serial == null ? "" : serial;
    }

    @Override public final long size() { return size; }

    @Override public final boolean readOnly() { return readOnly; }

    @Override public final boolean writeThrough() { return writeThrough; }

    @Override public final String defaultSerial() { return serial; }
}
