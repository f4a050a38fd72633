package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.config.ConfigException;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ScsiOptions;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.scsi.ScsiConfig;
import dev.vmm.virtio.scsi.VirtioScsi;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code --scsi}: the one multiqueue virtio-scsi controller, each disk the next LUN of target 0. A raw
 * image's READ/WRITE go through io_uring straight from guest memory (that backend holds the image
 * lock); every other command, and every other format, through the block layer.
 */
final class VirtioScsiAttach implements PendingDevice {
    private final ScsiControllerSpec spec;
    private final List<BlkBackend> dataPaths;
    private final List<BlockDevice> images;

    private VirtioScsiAttach(ScsiControllerSpec spec, List<BlkBackend> dataPaths, List<BlockDevice> images) {
        this.spec = spec;
        this.dataPaths = dataPaths;
        this.images = images;
    }

    static VirtioScsiAttach open(ScsiControllerSpec spec, OpenContext ctx) {
        List<BlkBackend> dataPaths = new ArrayList<>();
        List<BlockDevice> images = new ArrayList<>();
        VirtioScsiAttach pending = new VirtioScsiAttach(spec, dataPaths, images);
        try {
            ScsiOptions.controllerQueues(spec.disks(), ctx.cpus()); // disagreeing queues= are found now
            for (ScsiOptions o : spec.disks()) {
                ImageFormat format = DiskImages.format(o.disk(), o.format(), "--scsi");
                if (ctx.deferDiskLocks()) {
                    // The lock is handed over at the switch-over: only the io_uring data path can drop
                    // and retake it; other formats' metadata caches would be stale after the source's writes.
                    if (format != ImageFormat.RAW) {
                        throw new ConfigException("--scsi " + o.disk() + ": an incoming migration takes raw disk images only (" + format + " given)");
                    }
                    if (!o.uring()) {
                        throw new ConfigException("--scsi " + o.disk() + ": an incoming migration needs aio=io_uring (its image lock is handed over at the switch-over)");
                    }
                }
                BlkBackend fast = null;
                if (format == ImageFormat.RAW && o.uring() && !dev.vmm.block.nbd.NbdUri.isNbd(o.disk())) {
                    fast = UringRawBackend.open(o.disk(), o.readOnly(), o.cache(), !ctx.deferDiskLocks());
                }
                dataPaths.add(fast);
                images.add(DiskImages.open(o.disk(), format, o.readOnly(), fast == null, "--scsi"));
            }
            return pending;
        } catch (RuntimeException e) {
            pending.close();
            throw e;
        }
    }

    @Override
    public void attach(AttachContext ctx) {
        List<ScsiDisk> luns = new ArrayList<>();
        int lun = 0;
        for (int i = 0; i < images.size(); i++) {
            if (dataPaths.get(i) != null) ctx.registry().closeAfterIoThreads(dataPaths.get(i));
            ctx.registry().closeAfterIoThreads(images.get(i));
            ScsiOptions o = spec.disks().get(i);
            luns.add(new ScsiDisk(images.get(i),
                    new ScsiDisk.Config(o.blockSize(), o.serialFor(lun++), o.discard(), true)));
        }
        int queues = ScsiOptions.controllerQueues(spec.disks(), ctx.cpus());
        VirtioScsi scsi = new VirtioScsi(new ScsiTarget(luns), ScsiConfig.of(queues), ctx.ioThreads(), dataPaths,
                msg -> System.err.println(msg));
        ctx.virtio().attach(scsi, scsi::queueEventFd);
        ctx.registry().addDiskLocks(new DiskLocks() {
            @Override public void release() { scsi.releaseDiskLocks(); }
            @Override public void acquire() { scsi.acquireDiskLocks(); }
        });
        ctx.registry().closeLater(scsi);
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder("virtio-scsi-pci");
        for (int i = 0; i < images.size(); i++) {
            sb.append(i == 0 ? " " : ", ").append("LUN ").append(i).append(' ').append(spec.disks().get(i).disk())
                    .append(" (").append(images.get(i).format()).append(')');
        }
        return sb.toString();
    }

    @Override
    public void close() {
        for (BlkBackend b : dataPaths) if (b != null) b.close();
        for (BlockDevice d : images) d.close();
    }
}
