package dev.vmm.machine;

import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageFormat;
import dev.vmm.block.Images;
import dev.vmm.virtio.blk.BlkBackend;
import dev.vmm.virtio.blk.BlkConfig;
import dev.vmm.virtio.blk.CacheMode;
import dev.vmm.virtio.blk.SyncBackendAdapter;
import dev.vmm.virtio.blk.SyncDisk;
import dev.vmm.virtio.blk.ThrottleGroup;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.blk.VirtioBlk;
import dev.vmm.virtio.console.ConsolePortOptions;
import dev.vmm.virtio.console.StreamBackend;
import dev.vmm.virtio.console.VirtioConsole;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.rng.VirtioRng;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.util.List;

/** Creates the virtio devices a {@link MachineConfig.Devices} asks for and attaches them. */
final class VirtioDeviceFactory {
    private VirtioDeviceFactory() {}

    static void create(MachineConfig cfg, VirtioWiring wiring, List<IoThread> ioThreads, OutputStream console) {
        int n = 0;
        for (DiskSpec d : cfg.devices().disks()) {
            String name = "vd" + (char) ('a' + Math.min(n++, 25));
            String id = d.id() != null ? d.id() : "virtio" + (n - 1);
            ThrottleGroup throttle = new ThrottleGroup(id);
            VirtioBlk blk = disk(d, cfg.cpus(), ioThreads, throttle, wiring);
            dev.vmm.virtio.pci.VirtioPciDevice pci = wiring.attach(blk, blk::queueEventFd);
            wiring.addDrive(new BlockDrive(id, d, formatName(d), blk.capacityBytes(), throttle, pci));
            wiring.statsFrom(() -> blk.statsSummary(name + " (" + d.path() + ")"));
            wiring.closeLater(blk);
        }
        int nic = 0;
        for (dev.vmm.virtio.net.NetOptions o : cfg.devices().nets()) {
            dev.vmm.virtio.net.tap.Tap tap;
            try {
                tap = o.openTap(cfg.cpus());
            } catch (RuntimeException e) {
                throw new ConfigException("--net: " + e.getMessage());
            }
            wiring.closeAfterIoThreads(tap);
            dev.vmm.virtio.net.VirtioNet net = new dev.vmm.virtio.net.VirtioNet(tap, o.macOrDerived(), o.queueSize(), ioThreads);
            wiring.attach(net, net::queueEventFd);
            wiring.closeLater(net);
            String name = "net" + nic++;
            wiring.statsFrom(() -> net.statsSummary(name));
        }
        if (!cfg.devices().scsiDisks().isEmpty()) {
            java.util.List<dev.vmm.scsi.ScsiDisk> luns = new java.util.ArrayList<>();
            java.util.List<BlkBackend> dataPaths = new java.util.ArrayList<>();
            int lun = 0;
            for (dev.vmm.virtio.scsi.ScsiOptions o : cfg.devices().scsiDisks()) {
                if (!Files.exists(o.disk())) throw new ConfigException("--scsi " + o.disk() + ": no such file");
                ImageFormat format = o.format() != null ? ImageFormat.byName(o.format()) : probe(o.disk(), "--scsi");
                // A raw image's READ/WRITE go through io_uring straight from guest memory (that backend holds
                // the image lock); every other command, and every other format, through the block layer.
                if (wiring.diskLocksDeferred()) {
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
                if (format == ImageFormat.RAW && o.uring()) {
                    fast = UringRawBackend.open(o.disk(), o.readOnly(), o.cache(), !wiring.diskLocksDeferred());
                    wiring.closeAfterIoThreads(fast);
                }
                dataPaths.add(fast);
                BlockDevice bd = Images.open(o.disk(), (o.readOnly() ? Images.Options.readOnlyDefaults()
                        : Images.Options.readWriteDefaults()).withFormat(format).withLock(fast == null));
                wiring.closeAfterIoThreads(bd);
                luns.add(new dev.vmm.scsi.ScsiDisk(dev.vmm.scsi.BlockStore.of(bd),
                        new dev.vmm.scsi.ScsiDisk.Config(o.blockSize(), o.serialFor(lun++), o.discard(), true)));
            }
            int queues = dev.vmm.virtio.scsi.ScsiOptions.controllerQueues(cfg.devices().scsiDisks(), cfg.cpus());
            dev.vmm.virtio.scsi.VirtioScsi scsi = new dev.vmm.virtio.scsi.VirtioScsi(new dev.vmm.scsi.ScsiTarget(luns),
                    dev.vmm.virtio.scsi.ScsiConfig.of(queues), ioThreads, dataPaths, msg -> System.err.println(msg));
            wiring.attach(scsi, scsi::queueEventFd);
            wiring.closeLater(scsi);
        }
        if (cfg.devices().rng() != null) {
            try {
                VirtioRng rng = new VirtioRng(cfg.devices().rng().source(), cfg.devices().rng().rate());
                dev.vmm.virtio.pci.VirtioPciDevice pci = wiring.attach(rng, null);
                wiring.statsFrom(() -> String.format("%s: status 0x%02x, %d bytes of entropy served%n", pci,
                        pci.deviceStatus(), rng.bytesServed()));
                wiring.closeLater(rng);
            } catch (IOException e) {
                throw new ConfigException("--rng: cannot open " + cfg.devices().rng().source() + ": " + e.getMessage());
            }
        }
        if (!cfg.devices().consolePorts().isEmpty()) {
            // Port 0 (hvc0) shares the serial console's output; it takes no input (COM1 has stdin).
            VirtioConsole vc = new VirtioConsole(VirtioConsole.DEFAULT_MAX_PORTS,
                    new StreamBackend(InputStream.nullInputStream(), console, "hvc0-input"));
            for (ConsolePortOptions p : cfg.devices().consolePorts()) {
                try {
                    vc.addPort(p.name(), p.openBackend());
                } catch (IOException e) {
                    throw new ConfigException("--console-port name=" + p.name() + ": " + e.getMessage());
                }
            }
            dev.vmm.virtio.pci.VirtioPciDevice pci = wiring.attach(vc, null);
            wiring.setConsole(vc);
            wiring.statsFrom(() -> {
                StringBuilder sb = new StringBuilder(String.format("%s: status 0x%02x", pci, pci.deviceStatus()));
                for (VirtioConsole.PortStatus p : vc.ports()) {
                    sb.append(String.format(", port %d%s%s%s", p.id(), p.name() == null ? "" : " " + p.name(),
                            p.guestReady() ? " guest-ready" : "", p.guestOpen() ? " guest-open" : ""));
                }
                return sb.append(System.lineSeparator()).toString();
            });
            wiring.closeLater(vc);
        }
    }

    private static String formatName(DiskSpec d) {
        return (d.format() != null ? ImageFormat.byName(d.format()) : probe(d)).qemuName();
    }

    private static VirtioBlk disk(DiskSpec d, int cpus, List<IoThread> ioThreads, ThrottleGroup throttle, VirtioWiring wiring) {
        boolean nbd = dev.vmm.block.nbd.NbdUri.isNbd(d.path()); // a disk on an NBD server, through the block layer
        if (!nbd && !Files.exists(d.path())) throw new ConfigException("--disk " + d.path() + ": no such file");
        ImageFormat format = d.format() != null ? ImageFormat.byName(d.format()) : probe(d);
        BlkBackend backend;
        CacheMode cache = CacheMode.parse(d.cache());
        if (format == ImageFormat.RAW && !nbd) {
            backend = UringRawBackend.open(d.path(), d.readOnly(), cache, !wiring.diskLocksDeferred());
        } else {
            if (wiring.diskLocksDeferred()) {
                // Its metadata caches would be stale after the source's last writes: not migratable in place.
                throw new ConfigException("--disk " + d.path() + ": an incoming migration takes raw disk images only (" + format + " given)");
            }
            BlockDevice dev = Images.open(d.path(), (d.readOnly() ? Images.Options.readOnlyDefaults()
                    : Images.Options.readWriteDefaults()).withFormat(format));
            backend = new SyncBackendAdapter(syncDisk(dev), 2, d.serial());
        }
        wiring.closeAfterIoThreads(backend);
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
        int queues = d.queues() > 0 ? d.queues() : cpus;
        BlkConfig c = BlkConfig.of(queues).withDiscard(d.discard());
        if (d.serial() != null) c = c.withSerial(d.serial());
        c = c.withThrottle(throttle); // always: QMP block_set_io_throttle may set limits later
        return new VirtioBlk(backend, c, ioThreads);
    }

    private static ImageFormat probe(DiskSpec d) {
        return probe(d.path(), "--disk");
    }

    private static ImageFormat probe(java.nio.file.Path path, String option) {
        if (dev.vmm.block.nbd.NbdUri.isNbd(path)) return ImageFormat.RAW;
        try (ImageFile f = ImageFile.open(path, true, false)) {
            return ImageFormat.probe(f);
        } catch (RuntimeException e) {
            throw new ConfigException(option + " " + path + ": " + e.getMessage());
        }
    }

    private static SyncDisk syncDisk(BlockDevice d) {
        return new SyncDisk() {
            public long size() { return d.size(); }
            public boolean readOnly() { return d.readOnly(); }
            public void read(long o, MemorySegment m) { d.read(o, m); }
            public void write(long o, MemorySegment m) { d.write(o, m); }
            public void flush() { d.flush(); }
            public void discard(long o, long n) { d.discard(o, n); }
            public void writeZeroes(long o, long n, boolean u) { d.writeZeroes(o, n, u); }
            public void close() { d.close(); }
        };
    }
}
