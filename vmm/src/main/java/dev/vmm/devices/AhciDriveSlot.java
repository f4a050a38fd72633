package dev.vmm.devices;

import dev.vmm.ahci.AhciDrive;
import dev.vmm.ahci.AtapiCdrom;
import dev.vmm.block.BlockDevice;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFormat;
import dev.vmm.config.ConfigException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * One drive of the ICH9 AHCI controller as QMP sees it: named as QEMU names {@code -drive if=ide,index=P}
 * on q35 ({@code ide2-cd0} for a CD-ROM on port 2, {@code ide0-hd0} for a disk on port 0), what it was
 * opened from, and — for a CD-ROM — the medium changes QMP asks for. The guest learns of a change
 * through the ATAPI model ({@link AtapiCdrom#insert}: UNIT ATTENTION and a NEW MEDIA event;
 * {@link AtapiCdrom#eject}: MEDIA REMOVAL). A replaced medium is handed to {@code retire}, which
 * closes it when the machine closes: a command of the guest may still be reading it on an AHCI worker.
 */
public final class AhciDriveSlot {
    /** What an eject did. */
    public enum Eject { NOT_REMOVABLE, LOCKED, OPENED, ALREADY_OPEN }

    private final int port;
    private final AhciDrive drive;
    private final Consumer<BlockDevice> retire;
    private Path path;
    private String format;
    private long size;

    private final boolean readOnly;

    public AhciDriveSlot(int port, AhciDrive drive, Path path, BlockDevice image, boolean readOnly, Consumer<BlockDevice> retire) {
        this.port = port;
        this.readOnly = readOnly || drive instanceof AtapiCdrom;
        this.drive = Objects.requireNonNull(drive);
        this.retire = retire;
        this.path = path;
        this.format = image.format();
        this.size = image.size();
    }

    public boolean removable() { return drive instanceof AtapiCdrom; }

    /** The QMP drive name. */
    public String id() { return "ide" + port + (removable() ? "-cd0" : "-hd0"); }

    /** The device's QOM-style path (QEMU gives its auto-created IDE devices a numbered path; ours names the port). */
    public String qdev() { return "/machine/ich9-ahci/port[" + port + "]"; }

    public int port() { return port; }

    public AhciDrive drive() { return drive; }

    /** The image file, or null when no medium is in. */
    public synchronized Path path() { return medium() ? path : null; }

    public synchronized String format() { return format; }

    public synchronized long size() { return size; }

    public boolean readOnly() { return readOnly; }

    public boolean locked() { return drive instanceof AtapiCdrom c && c.locked(); }

    public boolean trayOpen() { return drive instanceof AtapiCdrom c && c.trayOpen(); }

    private boolean medium() { return !(drive instanceof AtapiCdrom c) || c.mediumPresent(); }

    /** QMP {@code eject}: the tray opens and the medium goes (unless the guest locked it and {@code force} is off). */
    public synchronized Eject eject(boolean force) {
        if (!(drive instanceof AtapiCdrom cd)) return Eject.NOT_REMOVABLE;
        boolean wasOpen = cd.trayOpen();
        if (!cd.eject(force)) return Eject.LOCKED;
        BlockDevice old = cd.lastEjected();
        if (old != null) retire.accept(old);
        return wasOpen ? Eject.ALREADY_OPEN : Eject.OPENED;
    }

    /**
     * QMP {@code blockdev-change-medium}: opens {@code file} read-only ({@code format} null = probe),
     * then the tray opens (if closed), the medium changes and the tray closes. Returns the tray
     * positions passed through (true = open), for DEVICE_TRAY_MOVED. Errors are the user's, as QEMU words them.
     */
    public synchronized List<Boolean> change(Path file, String formatName, boolean force) {
        if (!(drive instanceof AtapiCdrom cd)) throw new ConfigException("Device '" + id() + "' is not removable");
        ImageFormat fmt;
        if (formatName != null) {
            try {
                fmt = ImageFormat.byName(formatName);
            } catch (BlockException e) {
                throw new ConfigException("Unknown driver '" + formatName + "'");
            }
        } else {
            if (!Files.exists(file)) throw new ConfigException("Could not open '" + file + "': No such file or directory");
            fmt = DiskImages.format(file, null, "blockdev-change-medium");
        }
        if (!Files.exists(file)) throw new ConfigException("Could not open '" + file + "': No such file or directory");
        if (cd.locked() && !force) throw new ConfigException(lockedMessage());
        BlockDevice image = DiskImages.open(file, fmt, true, true, "blockdev-change-medium");
        List<Boolean> moves = new ArrayList<>();
        if (!cd.trayOpen()) {
            cd.eject(true);
            if (cd.lastEjected() != null) retire.accept(cd.lastEjected());
            moves.add(true);
        }
        BlockDevice old = cd.insert(image);
        if (old != null) retire.accept(old);
        moves.add(false);
        path = file;
        format = image.format();
        size = image.size();
        return moves;
    }

    /** QEMU's words for an eject refused because the guest holds the medium locked. */
    public String lockedMessage() {
        return "Device '" + id() + "' is locked and force was not specified, wait for tray to open and try again";
    }
}
