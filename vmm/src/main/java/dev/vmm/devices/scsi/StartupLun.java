package dev.vmm.devices.scsi;

import dev.vmm.block.BlockDevice;
import dev.vmm.virtio.blk.BlkBackend;

/**
 * A start-up disk given an id ({@code --scsi ...,id=X}): QMP {@code device_del X} detaches its LUN
 * and then closes its host side ({@link #close}: the io_uring data path, then the image — its lock
 * is free afterwards), as a {@code scsi-hd} added at run time releases its node. Closing is
 * idempotent: the machine closes every LUN's host side again when it stops.
 */
public final class StartupLun implements AutoCloseable {
    private final ScsiController controller;
    private final int lun;
    private final String id;
    private BlkBackend dataPath;
    private BlockDevice image;

    /** @param dataPath null when the LUN has none */
    public StartupLun(ScsiController controller, int lun, String id, BlkBackend dataPath, BlockDevice image) {
        this.controller = controller;
        this.lun = lun;
        this.id = id;
        this.dataPath = dataPath;
        this.image = image;
    }

    public ScsiController controller() { return controller; }

    public int lun() { return lun; }

    /** The disk's qdev id, or null. */
    public String id() { return id; }

    @Override
    public synchronized void close() {
        try {
            if (dataPath != null) dataPath.close();
        } finally {
            dataPath = null;
            if (image != null) image.close();
            image = null;
        }
    }
}
