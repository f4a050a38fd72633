package dev.vmm.control.scsi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.control.pci.PciPlug;
import dev.vmm.devices.VirtioScsiAttach;
import dev.vmm.hotplug.PciHotplug;
import dev.vmm.virtio.scsi.ScsiConfig;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code device_add virtio-scsi-pci} ({@code id}, {@code bus}, {@code addr}, {@code num_queues}):
 * a controller without disks, plugged like a virtio-blk disk (the same attach code as
 * {@code --scsi}, through {@link PciHotplug}); its bus ({@code <id>.0}) then takes {@code scsi-hd}
 * devices. Checked in QEMU's order: the bus, each property as given, the slot, the queue count.
 * {@code device_del} is the guest's eject, as for every PCI device; the controller's disks go with
 * it (QEMU 7.2 does the same: they are reported deleted first, newest first).
 */
final class VirtioScsiPciDriver extends HotplugPciDriver {
    static final String DRIVER = "virtio-scsi-pci";
    private static final Set<String> PROPERTIES = Set.of("driver", "id", "bus", "addr", "num_queues");
    /** QEMU's bound: the virtqueue limit (1024) less the control and event queues (its message says "less than" it, yet takes it). */
    private static final int QEMU_MAX_QUEUES = 1022;

    private final ScsiBuses buses;
    private final ScsiHdDriver disks;

    VirtioScsiPciDriver(Parts machine, ScsiBuses buses, ScsiHdDriver disks) {
        super(DRIVER, machine);
        this.buses = buses;
        this.disks = disks;
    }

    @Override
    protected void add(String id, PciPlug.Where where, JsonNode args) throws QmpException {
        PciTarget target = new PciTarget(where.busName(), -1, 0);
        long queues = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = args.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            switch (p.getKey()) {
                case "addr" -> target = PciPlug.address(DRIVER, where.busName(), p.getValue().asText());
                case "num_queues" -> queues = ScsiHdDriver.uint32(p.getKey(), p.getValue());
                default -> {
                    if (!PROPERTIES.contains(p.getKey())) throw QmpException.generic("Property '" + DRIVER + "." + p.getKey() + "' not found");
                }
            }
        }
        PciPlug.slotFree(where, target, DRIVER, qdevId);
        if (args.has("num_queues") && (queues == 0 || queues > QEMU_MAX_QUEUES)) {
            throw QmpException.generic("Invalid number of queues (= " + queues + "), must be a positive integer less than "
                    + QEMU_MAX_QUEUES + ".");
        }
        if (queues > ScsiConfig.MAX_QUEUES) {
            throw QmpException.generic("num_queues " + queues + ": this VMM's virtio-scsi has at most " + ScsiConfig.MAX_QUEUES + " request queues");
        }
        PciHotplug h = PciPlug.hotplug(hotplug, where);
        String busName = buses.nameFor(id);
        int requestQueues = (int) queues;
        PciPlug.plug(h, id, DRIVER, target, () -> VirtioScsiAttach.withoutDisks(busName, requestQueues, buses::added), () -> {
            disks.controllerGone(busName); // its disks leave with it (reported before it, as QEMU does)
            buses.removed(busName);
        });
    }
}
