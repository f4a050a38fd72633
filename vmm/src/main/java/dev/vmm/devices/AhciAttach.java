package dev.vmm.devices;

import dev.vmm.ahci.AhciController;
import dev.vmm.ahci.AhciDrive;
import dev.vmm.ahci.AhciIo;
import dev.vmm.ahci.AtaDisk;
import dev.vmm.ahci.AtapiCdrom;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.ImageFormat;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.config.AhciDriveOptions;
import dev.vmm.config.AhciSpec;
import dev.vmm.config.ConfigException;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * {@code --ahci} / {@code --cdrom} on {@code --machine q35}: the ICH9 AHCI controller at 00:1f.2,
 * drive {@code i} on port {@code i}. Images are opened (probed, checked, locked) in the prepare step;
 * commands run on the controller's own worker threads (one per drive, never a vCPU thread) through
 * the block layer; MSI goes through the machine's GSI routing (an irqfd), INTx otherwise.
 */
final class AhciAttach implements PendingDevice {
    /** Where the ICH9 puts its AHCI function. */
    static final int SLOT = 0x1f, FUNCTION = 2;

    private final AhciSpec spec;
    private final List<BlockDevice> images;

    private AhciAttach(AhciSpec spec, List<BlockDevice> images) {
        this.spec = spec;
        this.images = images;
    }

    static AhciAttach open(AhciSpec spec, OpenContext ctx) {
        List<BlockDevice> images = new ArrayList<>();
        AhciAttach pending = new AhciAttach(spec, images);
        try {
            for (AhciDriveOptions d : spec.drives()) {
                if (ctx.deferDiskLocks()) {
                    throw new ConfigException(d.option() + " " + d.path() + ": an incoming migration does not take AHCI drives yet");
                }
                ImageFormat format = DiskImages.format(d.path(), d.format(), d.option());
                images.add(DiskImages.open(d.path(), format, d.readOnly(), true, d.option()));
            }
            return pending;
        } catch (RuntimeException e) {
            pending.close();
            throw e;
        }
    }

    @Override
    public void place(PciPlacement pci, PciDevice function) {
        pci.placeAt(SLOT, FUNCTION, function);
    }

    @Override
    public void attach(AttachContext ctx) {
        List<AhciDrive> drives = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            String serial = "VMM-AHCI-" + i;
            drives.add(spec.drives().get(i).cdrom() ? new AtapiCdrom(images.get(i), serial)
                    : new AtaDisk(images.get(i), new AtaDisk.Config("VMM HARDDISK", serial, "1.0", 512, spec.drives().get(i).discard())));
        }
        ExecutorService workers = Executors.newFixedThreadPool(drives.size(), Thread.ofPlatform().daemon().name("ahci-", 0).factory());
        AhciController controller = new AhciController(ctx.memory(), AhciIo.of(workers), ctx.virtio().msiSink(), drives);
        place(ctx.pci(), controller);
        ctx.registry().addPart(new dev.vmm.power.WakeResettable("ich9-ahci", controller::reset)); // S3 wake: QEMU resets the HBA
        // QMP: query-block, eject, blockdev-change-medium (replaced media close with the machine)
        for (int i = 0; i < drives.size(); i++) {
            AhciDriveOptions d = spec.drives().get(i);
            ctx.registry().addPart(new AhciDriveSlot(i, drives.get(i), d.path(), images.get(i), d.readOnly(), ctx.registry()::closeAfterIoThreads));
        }
        // Close order: the workers stop before the images they read and write are closed.
        for (BlockDevice b : images) ctx.registry().closeAfterIoThreads(b);
        ctx.registry().cannotSaveState("ich9-ahci (00:1f.2)");
        ctx.registry().closeLater(() -> {
            workers.shutdown();
            if (!workers.awaitTermination(30, TimeUnit.SECONDS)) {
                System.err.println("vmm: warning: AHCI commands still running after 30 s at shutdown");
            }
        });
    }

    @Override
    public List<dev.vmm.firmware.BootSource> bootSources() {
        List<dev.vmm.firmware.BootSource> out = new ArrayList<>();
        for (int port = 0; port < spec.drives().size(); port++) {
            Integer index = spec.drives().get(port).bootIndex();
            if (index != null) out.add(dev.vmm.firmware.BootSource.ahci(index, port));
        }
        return out;
    }

    @Override
    public String describe() {
        StringBuilder sb = new StringBuilder("ich9-ahci");
        for (int i = 0; i < images.size(); i++) {
            AhciDriveOptions d = spec.drives().get(i);
            sb.append(i == 0 ? " " : ", ").append("port ").append(i).append(' ').append(d.cdrom() ? "cdrom " : "disk ")
                    .append(d.path()).append(" (").append(images.get(i).format()).append(d.readOnly() ? ", read-only" : "").append(')');
        }
        return sb.toString();
    }

    @Override
    public void close() {
        for (BlockDevice b : images) b.close();
    }
}
