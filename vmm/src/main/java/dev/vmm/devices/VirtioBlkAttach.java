package dev.vmm.devices;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.config.ConfigException;
import dev.vmm.config.DiskSpec;
import dev.vmm.machine.BlockDrive;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.BlkConfig;
import dev.vmm.virtio.blk.CacheMode;
import dev.vmm.virtio.blk.SyncBackendAdapter;
import dev.vmm.virtio.blk.ThrottleGroup;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.blk.VirtioBlk;
import dev.vmm.virtio.pci.VirtioPciDevice;


/**
 * {@code --disk}: a virtio-blk disk. Raw images are served by io_uring straight from guest memory
 * (that backend holds the image lock); the other formats go through the block layer.
 */
public final class VirtioBlkAttach implements PendingDevice {
    private final DiskSpec spec;
    private final int index;
    private final ImageFormat format;
    private final BlkBackend backend;

    private VirtioBlkAttach(DiskSpec spec, int index, ImageFormat format, BlkBackend backend) {
        this.spec = spec;
        this.index = index;
        this.format = format;
        this.backend = backend;
    }

    /** Opens (probes once, locks) the image of the {@code index}-th {@code --disk}. */
    static VirtioBlkAttach open(DiskSpec d, int index, OpenContext ctx) {
        ImageFormat format = DiskImages.format(d.path(), d.format(), "--disk");
        BlkBackend backend;
        // A raw file is served by io_uring; an NBD export goes through the block layer's client.
        if (format == ImageFormat.RAW && !dev.vmm.block.nbd.NbdUri.isNbd(d.path())) {
            backend = UringRawBackend.open(d.path(), d.readOnly(), CacheMode.parse(d.cache()), !ctx.deferDiskLocks());
        } else {
            if (ctx.deferDiskLocks()) {
                // Its metadata caches would be stale after the source's last writes: not migratable in place.
                throw new ConfigException("--disk " + d.path() + ": an incoming migration takes raw disk images only (" + format + " given)");
            }
            backend = new SyncBackendAdapter(DiskImages.open(d.path(), format, d.readOnly(), true, "--disk"), 2, d.serial());
        }
        return new VirtioBlkAttach(d, index, format, backend);
    }

    /**
     * A virtio-blk disk over an image opened elsewhere (a QMP {@code blockdev-add} node, for
     * {@code device_add virtio-blk-pci}): served through the block layer like a non-raw
     * {@code --disk}; the image stays open and locked when the device goes, until its owner closes it.
     */
    public static PendingDevice overOpenImage(DiskSpec d, int index, BlockDevice image) {
        ImageFormat format = ImageFormat.byName(image.format());
        return new VirtioBlkAttach(d, index, format, new SyncBackendAdapter(new BorrowedImage(image), 2, d.serial()));
    }

    @Override
    public void attach(AttachContext ctx) {
        DiskSpec d = spec;
        String name = "vd" + (char) ('a' + Math.min(index, 25));
        String id = d.id() != null ? d.id() : "virtio" + index;
        ThrottleGroup throttle = new ThrottleGroup(id);
        ctx.registry().closeAfterIoThreads(backend);
        if (d.limits().any()) {
            DiskSpec.Limits l = d.limits();
            long[] values = {l.bps(), l.bpsRead(), l.bpsWrite(), l.iops(), l.iopsRead(), l.iopsWrite()};
            ThrottleGroup.Limit[] kinds = {ThrottleGroup.Limit.TOTAL_BYTES, ThrottleGroup.Limit.READ_BYTES,
                    ThrottleGroup.Limit.WRITE_BYTES, ThrottleGroup.Limit.TOTAL_OPS, ThrottleGroup.Limit.READ_OPS,
                    ThrottleGroup.Limit.WRITE_OPS};
            for (int i = 0; i < values.length; i++) {
                if (values[i] > 0) throttle.setLimit(kinds[i], values[i], l.burstSeconds());
            }
        }
        int queues = d.queues() > 0 ? d.queues() : ctx.cpus();
        BlkConfig c = BlkConfig.of(queues).withDiscard(d.discard());
        if (d.serial() != null) c = c.withSerial(d.serial());
        c = c.withThrottle(throttle); // always: QMP block_set_io_throttle may set limits later
        VirtioBlk blk = new VirtioBlk(backend, c, ctx.ioThreads());
        VirtioPciDevice pci = ctx.virtio().attach(blk, blk::queueEventFd);
        ctx.registry().addDrive(new BlockDrive(id, d, format.qemuName(), blk.capacityBytes(), throttle, pci));
        ctx.registry().addDiskLocks(new DiskLocks() {
            @Override public void release() { blk.releaseDiskLock(); }
            @Override public void acquire() { blk.acquireDiskLock(); }
        });
        ctx.registry().statsFrom(() -> blk.statsSummary(name + " (" + d.path() + ")"));
        ctx.registry().closeLater(blk);
    }

    @Override
    public java.util.List<dev.vmm.firmware.BootSource> bootSources() {
        return spec.bootIndex() == null ? java.util.List.of() : java.util.List.of(dev.vmm.firmware.BootSource.virtioBlk(spec.bootIndex()));
    }

    @Override
    public String qdevId() { return spec.id(); }

    @Override
    public String qdevDriver() { return "virtio-blk-pci"; }

    @Override
    public String describe() {
        return "virtio-blk-pci " + spec.path() + " (" + format.qemuName() + (spec.readOnly() ? ", read-only" : "")
                + ", id " + (spec.id() != null ? spec.id() : "virtio" + index) + ")";
    }

    @Override
    public void close() {
        backend.close();
    }
}
