package dev.vmm.block;

/**
 * A {@link BlockDevice} for tests that only need the data methods (RAM disks, gated or failing
 * disks): format "raw", every range allocated data, nothing to close.
 */
public interface TestDisk extends BlockDevice {
    @Override default String format() { return "raw"; }

    @Override
    default Extent status(long offset, long maxLength) {
        return new Extent(offset, Math.max(1, Math.min(maxLength, size() - offset)), true, false, 0, -1, null);
    }

    @Override default ImageInfo info() { return ImageInfo.simple(format(), size()); }

    @Override default void close() { }
}
