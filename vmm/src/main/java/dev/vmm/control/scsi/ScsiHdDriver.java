package dev.vmm.control.scsi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.DiskSpec;
import dev.vmm.control.DeviceDriver;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.control.block.BlockNode;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.VirtioScsiAttach;
import dev.vmm.devices.scsi.ScsiController;
import dev.vmm.machine.BlockDrive;
import dev.vmm.scsi.ScsiDisk;
import dev.vmm.scsi.ScsiTarget;
import dev.vmm.virtio.blk.ThrottleGroup;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * QMP {@code device_add scsi-hd} ({@code drive} = a {@code blockdev-add} node, {@code bus} =
 * {@code <controller-id>.0}, {@code scsi-id}, {@code lun}, {@code channel}, {@code serial},
 * {@code bootindex}) onto a virtio-scsi controller, the one of {@code --scsi} or one plugged at run
 * time, and {@code device_del} of it. Checked in QEMU's order and words: the bus, each property as
 * given, then what QEMU's realize refuses (channel, id and LUN ranges, a LUN in use, no drive, a
 * node another device writes).
 *
 * <p>A disk is a LUN of target 0 (this controller has one target: {@code scsi-id} other than 0 is
 * refused; without {@code lun} the first free LUN is taken, where QEMU would take the next free
 * target). The LUN appears at once and the guest is told by the virtio-scsi event queue; unplug
 * needs no guest action (as in QEMU): the LUN disappears for new commands, the event is sent, and
 * once the commands that reached the disk have completed the node is free again and DEVICE_DELETED
 * goes out. {@code bootindex} is accepted and has no effect (the firmware's boot order is made at
 * start).
 */
final class ScsiHdDriver implements DeviceDriver {
    static final String DRIVER = "scsi-hd";
    private static final Set<String> PROPERTIES = Set.of("driver", "id", "bus", "drive", "scsi-id", "lun", "channel", "serial", "bootindex");
    private static final int MAX_TARGET = 255;

    /** One disk plugged here. */
    private static final class Disk {
        final String id, path, drive;
        final ScsiController controller;
        final int lun;
        final DeviceRegistry drives;
        boolean removing;

        Disk(String id, String path, String drive, ScsiController controller, int lun, DeviceRegistry drives) {
            this.id = id;
            this.path = path;
            this.drive = drive;
            this.controller = controller;
            this.lun = lun;
            this.drives = drives;
        }
    }

    private final BlockNodes nodes;
    private final ScsiBuses buses;
    private final DeviceRegistry machine;
    private final Supplier<PciPlacement> placement;
    /** QMP events (DEVICE_DELETED of the disks of a controller that is ejected). */
    private final BiConsumer<String, Map<String, Object>> events;
    private final List<Disk> disks = new ArrayList<>();
    private int anonymous;

    ScsiHdDriver(BlockNodes nodes, ScsiBuses buses, DeviceRegistry machine, Supplier<PciPlacement> placement,
                 BiConsumer<String, Map<String, Object>> events) {
        this.nodes = nodes;
        this.buses = buses;
        this.machine = machine;
        this.placement = placement;
        this.events = events;
    }

    @Override
    public Set<String> drivers() {
        return Set.of(DRIVER);
    }

    @Override
    public synchronized void add(String driver, String id, JsonNode args) throws QmpException {
        ScsiController c = bus(args);
        String drive = null, serial = null;
        long channel = 0, scsiId = -1, lun = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = args.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            String key = p.getKey();
            JsonNode v = p.getValue();
            switch (key) {
                case "drive" -> {
                    if (nodes.find(v.asText()) == null) throw QmpException.generic("Property 'scsi-hd.drive' can't find value '" + v.asText() + "'");
                    drive = v.asText();
                }
                case "scsi-id" -> scsiId = uint32(key, v);
                case "lun" -> lun = uint32(key, v);
                case "channel" -> channel = uint32(key, v);
                case "bootindex" -> uint32(key, v);
                case "serial" -> serial = v.asText();
                default -> {
                    if (!PROPERTIES.contains(key)) throw QmpException.generic("Property '" + DRIVER + "." + key + "' not found");
                }
            }
        }
        if (channel > 0) throw QmpException.generic("bad scsi channel id: " + channel);
        if (scsiId > MAX_TARGET) throw QmpException.generic("bad scsi device id: " + scsiId);
        if (lun > ScsiTarget.MAX_LUN) throw QmpException.generic("bad scsi device lun: " + lun);
        if (scsiId > 0) {
            throw QmpException.generic("scsi-id " + scsiId + ": this VMM's virtio-scsi controller has one target (scsi-id 0);"
                    + " give each disk its own lun instead");
        }
        ScsiTarget target = c.scsi().target();
        if (lun < 0) {
            lun = firstFreeLun(target);
            if (lun < 0) throw QmpException.generic("no free lun");
        } else if (target.hasLun((int) lun)) {
            throw QmpException.generic("lun already used by '" + occupant(c, (int) lun) + "'");
        }
        if (drive == null) throw QmpException.generic("drive property not set");
        String path = id != null ? "/machine/peripheral/" + id : "/machine/peripheral-anon/device[" + anonymous++ + "]";
        String holder = "block device '" + (id != null ? id : path) + "'";
        String user = nodes.user(drive);
        if (user != null) throw BlockNodes.permissionConflict(drive, user, holder);
        String serialNumber = serial != null ? serial : VirtioScsiAttach.hotPluggedSerial(id, c.busName(), (int) lun);
        ScsiDisk disk;
        BlockNode node = nodes.find(drive);
        try {
            disk = VirtioScsiAttach.lunOverOpenImage(node.device(), serialNumber, node.discard());
        } catch (IllegalArgumentException e) {
            throw QmpException.generic("Property 'scsi-hd.serial': " + e.getMessage());
        }
        if (!nodes.claim(drive, holder)) throw QmpException.generic("Property 'scsi-hd.drive' can't find value '" + drive + "'");
        if (!c.scsi().attachLun((int) lun, disk)) {
            nodes.release(drive);
            throw QmpException.generic("lun already used by '" + occupant(c, (int) lun) + "'");
        }
        c.scsi().nameLun((int) lun, id); // snapshots and migration carry the LUN's id (docs/hotplug.md)
        DeviceRegistry drives = new DeviceRegistry(machine.pci(), List.of()); // query-block lists the disk while it is there
        DiskSpec spec = new DiskSpec(node.filename(), node.driver(), node.readOnly(), node.discard(), 0, null, node.direct(),
                new DiskSpec.Limits(0, 0, 0, 0, 0, 0, 0), serial, id, null);
        String name = id != null ? id : path;
        drives.addDrive(new BlockDrive(name, spec, node.driver(), node.device().size(), new ThrottleGroup(name), c.pci()));
        machine.addChild(drives);
        disks.add(new Disk(id, path, drive, c, (int) lun, drives));
    }

    /** {@code bus}: a SCSI bus by name; without it the first one, as QEMU picks. */
    private ScsiController bus(JsonNode args) throws QmpException {
        if (!args.hasNonNull("bus")) {
            List<ScsiController> all = buses.all();
            if (all.isEmpty()) throw QmpException.generic("No 'SCSI' bus found for device '" + DRIVER + "'");
            return all.getFirst();
        }
        String name = args.get("bus").asText();
        ScsiController c = buses.find(name);
        if (c != null) return c;
        PciPlacement pci = placement.get();
        if (pci != null && pci.bus(name) != null) throw QmpException.generic("Device '" + DRIVER + "' can't go on PCI bus");
        throw QmpException.generic("Bus '" + name + "' not found");
    }

    /** An integer property as QEMU's QMP input reads one (a JSON number, 0..2^32-1). */
    static long uint32(String key, JsonNode v) throws QmpException {
        if (!v.isIntegralNumber()) throw QmpException.generic("Parameter '" + key + "' expects integer");
        if (!v.canConvertToLong() || v.asLong() < 0 || v.asLong() > 0xFFFF_FFFFL) {
            throw QmpException.generic("Parameter '" + key + "' expects uint32_t");
        }
        return v.asLong();
    }

    private static int firstFreeLun(ScsiTarget target) {
        for (int l = 0; l <= ScsiTarget.MAX_LUN; l++) if (!target.hasLun(l)) return l;
        return -1;
    }

    /** QEMU's name of the device at {@code lun}: its id ("(null)" without one). */
    private static String occupant(ScsiController c, int lun) {
        String id = c.scsi().lunName(lun);
        return id != null ? id : "(null)";
    }

    private Disk byId(String id) {
        for (Disk d : disks) if (id.equals(d.id)) return d;
        return null;
    }

    @Override
    public synchronized boolean owns(String id) {
        return byId(id) != null || startup(id) != null;
    }

    /**
     * Takes the LUN away now; the future completes (and DEVICE_DELETED goes out) when the commands
     * that reached its disk have completed and the node is free again.
     */
    @Override
    public synchronized CompletableFuture<Void> delete(String id) throws QmpException {
        Disk d = byId(id);
        if (d == null) {
            StartupScsi.Found startup = startup(id);
            if (startup == null) throw new QmpException("DeviceNotFound", "Device '" + id + "' not found");
            if (startup.lun() == null) {
                throw QmpException.generic(startup.describe() + " was given at start-up: this VMM cannot unplug a start-up SCSI controller");
            }
            return deleteStartupLun(startup.lun());
        }
        if (d.removing) throw QmpException.generic("Device " + id + " is already in the process of unplug");
        d.removing = true;
        CompletableFuture<Void> drained = d.controller.scsi().detachLun(d.lun);
        if (drained == null || drained.isDone()) {
            gone(d);
            return CompletableFuture.completedFuture(null);
        }
        // Completed by the I/O thread that finished the last command: the release runs elsewhere, so
        // that thread never waits for this driver's lock.
        return drained.thenRunAsync(() -> gone(d));
    }

    /** The start-up device (controller or disk) with {@code id}, or null. */
    private StartupScsi.Found startup(String id) {
        return StartupScsi.find(buses.coldPlugged(), machine.partsWithChildren(dev.vmm.devices.scsi.StartupLun.class), id);
    }

    /**
     * A disk given at start-up with an id (a migration destination's, libvirt's {@code -device
     * scsi-hd,id=}): as for a run-time one, the LUN goes now and, once no command reaches it any
     * more, its host side (data path and image, with the image lock) is closed.
     */
    private CompletableFuture<Void> deleteStartupLun(dev.vmm.devices.scsi.StartupLun l) {
        CompletableFuture<Void> drained = l.controller().scsi().detachLun(l.lun());
        if (drained == null || drained.isDone()) {
            l.close();
            return CompletableFuture.completedFuture(null);
        }
        return drained.thenRunAsync(l::close);
    }

    /** The disk is off its controller and nothing runs on it: the node is free, query-block forgets it. */
    private synchronized void gone(Disk d) {
        if (!disks.remove(d)) return;
        machine.removeChild(d.drives);
        nodes.release(d.drive);
    }

    /**
     * The guest ejected controller {@code busName} (its queues are stopped: nothing runs on its
     * disks any more). Its disks go with it, newest first, each reported deleted, as QEMU does.
     */
    synchronized void controllerGone(String busName) {
        List<Disk> on = new ArrayList<>();
        for (Disk d : disks) if (d.controller.busName().equals(busName)) on.add(d);
        for (Disk d : on.reversed()) {
            boolean reported = d.removing; // a device_del in progress reports it itself
            gone(d);
            if (reported) continue;
            Map<String, Object> data = new LinkedHashMap<>();
            if (d.id != null) data.put("device", d.id);
            data.put("path", d.path);
            events.accept("DEVICE_DELETED", data);
        }
    }
}
