package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.nbd.NbdUri;
import dev.vmm.block.raw.RawImage;
import dev.vmm.config.ConfigException;
import dev.vmm.virtio.blk.BlkBackendException;

import java.nio.file.Path;

/**
 * A usb-storage image and its OFD lock, which a live migration hands over as virtio-blk's
 * ({@link DiskLocks}): the source makes the image's writes durable and drops the lock after READY,
 * the destination — which opened the image without it while incoming — takes it at GO, and a
 * source that resumes ('cont' after a failed or cancelled switch-over) takes it back.
 *
 * <p>A raw file is opened as one {@link ImageFile} (a {@link RawImage} over it), whose lock is
 * released and taken again on the image's own descriptor ({@link ImageFile#releaseLock()},
 * {@link ImageFile#acquireLock()}). Other formats (and NBD exports) are opened locked by the
 * block layer as before and are not handed over: their metadata caches would be stale after the
 * source's last writes, so an incoming migration refuses them, as for {@code --disk}.
 */
final class UsbStorageImage implements AutoCloseable {
    private final BlockDevice image;
    private final Path path;
    /** The raw image's file, whose lock is handed over; null for images that are not. */
    private final ImageFile handedOver;

    private UsbStorageImage(BlockDevice image, Path path, ImageFile handedOver) {
        this.image = image;
        this.path = path;
        this.handedOver = handedOver;
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
            return new UsbStorageImage(DiskImages.open(path, f, readOnly, true, option), path, null);
        }
        ImageFile file;
        try {
            file = ImageFile.open(path, readOnly, !deferLock);
        } catch (BlockException e) {
            throw new ConfigException(option + " " + path + ": " + e.getMessage());
        }
        try {
            return new UsbStorageImage(new RawImage(file), path, file);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    BlockDevice image() { return image; }

    /** Whether this VMM holds the image's lock now (for tests and listings). */
    boolean locked() { return handedOver == null || handedOver.locked(); }

    /** Source after READY: writes made durable, then the lock dropped. */
    void releaseLock() {
        if (handedOver != null && handedOver.locked()) handedOver.releaseLock();
    }

    /** Destination at GO, or the source resuming: takes the lock; {@link BlkBackendException} while another holds it. */
    void acquireLock() {
        if (handedOver == null) return;
        try {
            handedOver.acquireLock();
        } catch (BlockException e) {
            throw new BlkBackendException("usb-storage " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        image.close(); // closes the file, which drops its lock
    }
}
