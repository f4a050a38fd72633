package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.nbd.NbdUri;
import dev.vmm.config.ConfigException;
import dev.vmm.virtio.blk.BlkBackendException;

import java.nio.file.Path;

/**
 * A usb-storage image and its OFD lock, which a live migration hands over as virtio-blk's
 * ({@link DiskLocks}): the source makes the image's writes durable and drops the lock after READY,
 * the destination — which opened the image without it while incoming — takes it at GO, and a
 * source that resumes ('cont' after a failed or cancelled switch-over) takes it back.
 *
 * <p>A raw file is opened through the block layer <em>without</em> a lock and the lock is held on a
 * second descriptor of the same file ({@link ImageFile} with its lock): an OFD lock belongs to the
 * open file description, so that descriptor excludes every other opener exactly as the image's own
 * would, and closing it drops the lock without touching the image the device uses. Other formats
 * (and NBD exports) are opened locked by the block layer as before and are not handed over: their
 * metadata caches would be stale after the source's last writes, so an incoming migration refuses
 * them, as for {@code --disk}.
 */
final class UsbStorageImage implements AutoCloseable {
    private final BlockDevice image;
    private final Path path;
    private final boolean readOnly, handOver;
    /** The descriptor holding the lock (raw files), or null while the lock is not ours. */
    private ImageFile lockHolder;

    private UsbStorageImage(BlockDevice image, Path path, boolean readOnly, boolean handOver, ImageFile lockHolder) {
        this.image = image;
        this.path = path;
        this.readOnly = readOnly;
        this.handOver = handOver;
        this.lockHolder = lockHolder;
    }

    /**
     * Opens (format probed unless given); {@code deferLock}: an incoming-migration destination,
     * whose lock is taken by {@link #acquireLock} at GO. A locked or corrupt image is a
     * {@link ConfigException} naming {@code option} and the file.
     */
    static UsbStorageImage open(Path path, String format, boolean readOnly, boolean deferLock, String option) {
        ImageFormat f = DiskImages.format(path, format, option);
        if (f != ImageFormat.RAW || NbdUri.isNbd(path)) {
            if (deferLock) {
                throw new ConfigException(option + " " + path + ": an incoming migration takes raw disk images only (" + f.qemuName() + " given)");
            }
            return new UsbStorageImage(DiskImages.open(path, f, readOnly, true, option), path, readOnly, false, null);
        }
        ImageFile holder = null;
        if (!deferLock) {
            try {
                holder = ImageFile.open(path, readOnly, true); // the lock first: nothing is opened for a locked image
            } catch (BlockException e) {
                throw new ConfigException(option + " " + path + ": " + e.getMessage());
            }
        }
        try {
            return new UsbStorageImage(DiskImages.open(path, f, readOnly, false, option), path, readOnly, true, holder);
        } catch (RuntimeException e) {
            if (holder != null) holder.close();
            throw e;
        }
    }

    BlockDevice image() { return image; }

    /** Whether this VMM holds the image's lock now (for tests and listings). */
    synchronized boolean locked() { return !handOver || lockHolder != null; }

    /** Source after READY: writes made durable, then the lock dropped. */
    synchronized void releaseLock() {
        if (!handOver || lockHolder == null) return;
        if (!readOnly) image.flush();
        lockHolder.close();
        lockHolder = null;
    }

    /** Destination at GO, or the source resuming: takes the lock; {@link BlkBackendException} while another holds it. */
    synchronized void acquireLock() {
        if (!handOver || lockHolder != null) return;
        try {
            lockHolder = ImageFile.open(path, readOnly, true);
        } catch (BlockException e) {
            throw new BlkBackendException("usb-storage " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            image.close();
        } finally {
            if (lockHolder != null) lockHolder.close();
            lockHolder = null;
        }
    }
}
