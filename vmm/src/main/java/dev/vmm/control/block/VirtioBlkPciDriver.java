package dev.vmm.control.block;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.config.DiskSpec;
import dev.vmm.devices.VirtioBlkAttach;
import dev.vmm.hotplug.PciHotplug;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.control.pci.PciPlug;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code device_add} of {@code virtio-blk-pci} ({@code drive}, {@code id}, {@code bus},
 * {@code addr}, {@code num-queues}) on a node made by {@code blockdev-add}. The request is checked as
 * QEMU checks it, in QEMU's order: the bus first, then each property as given, then what QEMU's
 * realize refuses (a busy slot, no drive, zero queues, a node another device writes). A bus behind
 * a PCI-to-PCI bridge is refused: only bus 0 has the ACPI (PIIX4) hot-plug slots, as RHEL 7 documents
 * for {@code pc}; PCIe root ports (q35) are accepted.
 *
 * <p>A request that passes every check claims the node and plugs the device through the machine's
 * {@link PciHotplug} (the same attach code as {@code --disk}, over the node's image); {@code device_del}
 * asks the guest to eject it, and only once it has (DEVICE_DELETED) is the node free again, so
 * {@code blockdev-del} can close and unlock the image.
 */
public final class VirtioBlkPciDriver extends HotplugPciDriver {
    static final String DRIVER = "virtio-blk-pci";
    private static final Set<String> PROPERTIES = Set.of("driver", "id", "drive", "bus", "addr", "num-queues");

    private final BlockNodes nodes;

    public VirtioBlkPciDriver(BlockNodes nodes, Parts machine) {
        super(DRIVER, machine);
        this.nodes = nodes;
    }

    @Override
    protected void add(String id, PciPlug.Where where, JsonNode args) throws QmpException {
        String busName = where.busName();
        String drive = null;
        PciTarget target = new PciTarget(busName, -1, 0);
        int queues = 1;
        for (Iterator<Map.Entry<String, JsonNode>> it = args.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            String value = p.getValue().asText();
            switch (p.getKey()) {
                case "drive" -> {
                    if (nodes.find(value) == null) {
                        throw QmpException.generic("Property 'virtio-blk-device.drive' can't find value '" + value + "'");
                    }
                    drive = value;
                }
                case "addr" -> target = PciPlug.address(DRIVER, busName, value);
                case "num-queues" -> queues = number(value);
                default -> {
                    if (!PROPERTIES.contains(p.getKey())) {
                        throw QmpException.generic("Property '" + DRIVER + "." + p.getKey() + "' not found");
                    }
                }
            }
        }
        PciPlug.slotFree(where, target, DRIVER, qdevId);
        if (drive == null) throw QmpException.generic("drive property not set");
        if (queues < 1) throw QmpException.generic("num-queues property must be larger than 0");
        String user = nodes.user(drive);
        if (user != null) {
            throw BlockNodes.permissionConflict(drive, user, backend(id));
        }
        PciHotplug h = PciPlug.hotplug(hotplug, where);
        String claimant = claimant(id);
        // The claim names the holder as QEMU's conflict message does.
        if (!nodes.claim(drive, backend(claimant))) throw QmpException.generic("Property 'virtio-blk-device.drive' can't find value '" + drive + "'");
        BlockNode node = nodes.find(drive);
        DiskSpec spec = new DiskSpec(node.filename(), node.driver(), node.readOnly(), node.discard(), queues == 1 && !args.has("num-queues") ? 0 : queues,
                null, node.direct(), new DiskSpec.Limits(0, 0, 0, 0, 0, 0, 0), null, id, null);
        String claimed = drive;
        PciPlug.plug(h, id, DRIVER, target, () -> VirtioBlkAttach.overOpenImage(spec, index(), node.device()),
                () -> nodes.release(claimed));
    }

    /** QEMU's name of the device's block backend; {@code claimant} is an id or an anonymous device's path. */
    private static String backend(String claimant) {
        String path = claimant == null ? "/machine/peripheral-anon/device[?]" : claimant.startsWith("/") ? claimant : "/machine/peripheral/" + claimant;
        return "block device '" + path + "/virtio-backend'";
    }

    private static int number(String v) throws QmpException {
        try {
            int n = Integer.parseInt(v);
            if (n >= 0 && n <= 0xFFFF) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw QmpException.generic("Property '" + DRIVER + ".num-queues' doesn't take value '" + v + "'");
    }
}
