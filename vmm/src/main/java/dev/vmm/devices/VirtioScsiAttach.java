package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.config.ConfigException;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.ScsiOptions;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.devices.scsi.StartupLun;
import dev.vmm.devices.scsi.StartupLuns;
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
    /** Where each disk goes (parallel to {@code disks}). */
    private final List<ScsiControllerSpec.Unit> units;
    /** The controller's qdev id ({@code --scsi-controller id=}), or null. */
    private final String id;
    private final List<BlkBackend> dataPaths;
    private final List<BlockDevice> images;
    private final String busName;
    /** Request queues; 0: from the disks' {@code queues=} or the vCPU count. */
    private final int queues;
    private final Consumer<ScsiController> attached;
    /** A command-line controller (not a QMP device_add one). */
    private final boolean startup;

    private VirtioScsiAttach(List<ScsiOptions> disks, List<ScsiControllerSpec.Unit> units, String id, List<BlkBackend> dataPaths,
                             List<BlockDevice> images, String busName, int queues, Consumer<ScsiController> attached, boolean startup) {
        this.disks = disks;
        this.units = units;
        this.id = id;
        this.dataPaths = dataPaths;
        this.images = images;
        this.busName = busName;
        this.queues = queues;
        this.attached = attached;
        this.startup = startup;
    }

    /**
     * A controller without disks (QMP {@code device_add virtio-scsi-pci}): its LUNs come later with
     * {@code device_add scsi-hd}. {@code attached} gets it once it is on the bus.
     *
     * @param queues request queues, 0 = one per vCPU (as {@code --scsi} without {@code queues=})
     */
    public static PendingDevice withoutDisks(String busName, int queues, Consumer<ScsiController> attached) {
        return new VirtioScsiAttach(List.of(), List.of(), null, List.of(), List.of(), busName, queues, attached, false);
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
        VirtioScsiAttach pending = new VirtioScsiAttach(spec.disks(), spec.units(), spec.id(), dataPaths, images,
                spec.id() == null ? COLD_BUS : spec.id() + ".0", spec.queues() == null ? 0 : spec.queues(), c -> { }, true);
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
        for (int i = 0; i < images.size(); i++) {
            ScsiOptions o = disks.get(i);
            luns.add(new ScsiDisk(images.get(i), new ScsiDisk.Config(o.blockSize(), serial(i), o.discard(), true)));
        }
        int queues = this.queues > 0 ? this.queues : ScsiOptions.controllerQueues(disks, ctx.cpus());
        StartupLuns.Target t = StartupLuns.target(units, luns, dataPaths);
        VirtioScsi scsi = new VirtioScsi(t.target(), ScsiConfig.of(queues), ctx.ioThreads(), t.dataPaths(),
                msg -> System.err.println(msg));
        for (int i = 0; i < units.size(); i++) if (units.get(i).id() != null) scsi.nameLun(units.get(i).lun(), units.get(i).id());
        VirtioPciDevice pci = ctx.virtio().attach(scsi, scsi::queueEventFd);
        if (id != null) ctx.registry().qdevId(pci, id); // query-pci and the snapshot's device list name it
        ScsiController controller = new ScsiController(busName, scsi, pci);
        for (int i = 0; i < images.size(); i++) {
            // Each LUN's host side closes once: at device_del of a disk with an id, or with the machine.
            StartupLun host = new StartupLun(controller, units.get(i).lun(), units.get(i).id(), dataPaths.get(i), images.get(i));
            ctx.registry().closeAfterIoThreads(host);
            if (units.get(i).id() != null) ctx.registry().addPart(host); // QMP device_del finds it
        }
        if (startup) ctx.registry().addPart(controller); // QMP device_add scsi-hd finds a start-up bus here (run-time ones: attached)
        ctx.registry().addDiskLocks(new DiskLocks() {
            @Override public void release() { scsi.releaseDiskLocks(); }
            @Override public void acquire() { scsi.acquireDiskLocks(); }
        });
        ctx.registry().closeLater(scsi);
        attached.accept(controller);
    }

    /**
     * Disk {@code i}'s serial: its {@code serial=}; else for a disk placed with
     * {@code controller=}/{@code lun=}/{@code id=} the one {@code device_add scsi-hd} gives (its id, or
     * {@code vmm-scsi-<bus>-<lun>}), so that a disk hot-plugged at a source is the same disk to the guest
     * on a destination started with it; else {@code vmm-scsi-<lun>} as always.
     */
    private String serial(int i) {
        ScsiOptions o = disks.get(i);
        ScsiControllerSpec.Unit u = units.get(i);
        if (o.serial() != null || !u.explicit()) return o.serialFor(u.lun());
        return hotPluggedSerial(u.id(), busName, u.lun());
    }

    /** The serial of a {@code scsi-hd} without {@code serial}: its id, else {@code vmm-scsi-<bus>-<lun>}. */
    public static String hotPluggedSerial(String id, String busName, int lun) {
        return id != null ? id : "vmm-scsi-" + busName + "-" + lun;
    }

    /** A {@code --scsi-controller id=} goes through PciHotplug's start-up path: {@code device_del} can remove it. */
    @Override
    public String qdevId() { return id; }

    @Override
    public String qdevDriver() { return id == null ? null : "virtio-scsi-pci"; }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder("virtio-scsi-pci");
        if (id != null) sb.append(" bus ").append(busName).append(images.isEmpty() ? "" : ":");
        for (int i = 0; i < images.size(); i++) {
            ScsiControllerSpec.Unit u = units.get(i);
            sb.append(i == 0 ? " " : ", ").append("LUN ").append(u.lun()).append(' ').append(disks.get(i).disk())
                    .append(" (").append(images.get(i).format()).append(u.id() == null ? ")" : ", id " + u.id() + ")");
        }
        return sb.toString();
    }

    @Override
    public void close() {
        for (BlkBackend b : dataPaths) if (b != null) b.close();
        for (BlockDevice d : images) d.close();
    }
}
