package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.config.ConfigException;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ScsiOptions;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.pci.VirtioPciDevice;
import dev.vmm.virtio.scsi.ScsiConfig;
import dev.vmm.virtio.scsi.VirtioScsi;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code --scsi}: the one multiqueue virtio-scsi controller, each disk the next LUN of target 0. A raw
 * image's READ/WRITE go through io_uring straight from guest memory (that backend holds the image
 * lock); every other command, and every other format, through the block layer.
 */
public final class VirtioScsiAttach implements PendingDevice {
    /** The SCSI bus name of the {@code --scsi} controller: QEMU's for a virtio-scsi-pci without an id. */
    public static final String COLD_BUS = "scsi.0";

    private final List<ScsiOptions> disks;
    private final List<BlkBackend> dataPaths;
    private final List<BlockDevice> images;
    private final String busName;
    /** Request queues; 0: from the disks' {@code queues=} or the vCPU count. */
    private final int queues;
    private final Consumer<ScsiController> attached;

    private VirtioScsiAttach(List<ScsiOptions> disks, List<BlkBackend> dataPaths, List<BlockDevice> images, String busName,
                             int queues, Consumer<ScsiController> attached) {
        this.disks = disks;
        this.dataPaths = dataPaths;
        this.images = images;
        this.busName = busName;
        this.queues = queues;
        this.attached = attached;
    }

    /**
     * A controller without disks (QMP {@code device_add virtio-scsi-pci}): its LUNs come later with
     * {@code device_add scsi-hd}. {@code attached} gets it once it is on the bus.
     *
     * @param queues request queues, 0 = one per vCPU (as {@code --scsi} without {@code queues=})
     */
    public static PendingDevice withoutDisks(String busName, int queues, Consumer<ScsiController> attached) {
        return new VirtioScsiAttach(List.of(), List.of(), List.of(), busName, queues, attached);
    }

    /**
     * A LUN over an image opened elsewhere (a QMP {@code blockdev-add} node, for {@code device_add
     * scsi-hd}): served through the block layer; the image stays open and locked when the LUN goes,
     * until its owner closes it.
     */
    public static ScsiDisk lunOverOpenImage(BlockDevice image, String serial, boolean discard) {
        return new ScsiDisk(new BorrowedImage(image), new ScsiDisk.Config(512, serial, discard, true));
    }

    static VirtioScsiAttach open(ScsiControllerSpec spec, OpenContext ctx) {
        List<BlkBackend> dataPaths = new ArrayList<>();
        List<BlockDevice> images = new ArrayList<>();
        VirtioScsiAttach pending = new VirtioScsiAttach(spec.disks(), dataPaths, images, COLD_BUS, 0, c -> { });
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
            ScsiOptions o = disks.get(i);
            luns.add(new ScsiDisk(images.get(i),
                    new ScsiDisk.Config(o.blockSize(), o.serialFor(lun++), o.discard(), true)));
        }
        int queues = this.queues > 0 ? this.queues : ScsiOptions.controllerQueues(disks, ctx.cpus());
        ScsiTarget target = luns.isEmpty() ? ScsiTarget.withoutUnits() : new ScsiTarget(luns);
        VirtioScsi scsi = new VirtioScsi(target, ScsiConfig.of(queues), ctx.ioThreads(), dataPaths,
                msg -> System.err.println(msg));
        VirtioPciDevice pci = ctx.virtio().attach(scsi, scsi::queueEventFd);
        ScsiController controller = new ScsiController(busName, scsi, pci);
        ctx.registry().addPart(controller); // QMP device_add scsi-hd finds the bus here
        ctx.registry().addDiskLocks(new DiskLocks() {
            @Override public void release() { scsi.releaseDiskLocks(); }
            @Override public void acquire() { scsi.acquireDiskLocks(); }
        });
        ctx.registry().closeLater(scsi);
        attached.accept(controller);
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder("virtio-scsi-pci");
        for (int i = 0; i < images.size(); i++) {
            sb.append(i == 0 ? " " : ", ").append("LUN ").append(i).append(' ').append(disks.get(i).disk())
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
