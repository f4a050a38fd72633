package dev.vmm.control.netdev;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.config.NetOptions;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.control.pci.PciPlug;
import dev.vmm.devices.VirtioNetAttach;
import dev.vmm.hotplug.PciHotplug;
import dev.vmm.virtio.net.MacAddress;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code device_add virtio-net-pci} ({@code netdev}, {@code mac}, {@code mq}, {@code id},
 * {@code bus}, {@code addr}) on a tap made by {@code netdev_add}, checked in QEMU's order and
 * wording (bus, then each property as given, then the slot), then plugged through the machine's
 * {@link PciHotplug} with the attach code {@code --net} uses. The netdev is the NIC's until the
 * guest has ejected it (DEVICE_DELETED); {@code netdev_del} then closes the tap.
 */
public final class VirtioNetPciDriver extends HotplugPciDriver {
    static final String DRIVER = "virtio-net-pci";
    /** QEMU's name of the virtio device inside the PCI proxy (property errors name it). */
    private static final String DEVICE = "virtio-net-device";
    private static final Set<String> PROPERTIES = Set.of("driver", "id", "netdev", "mac", "mq", "bus", "addr");

    private final Netdevs netdevs;

    public VirtioNetPciDriver(Netdevs netdevs, Parts machine) {
        super(DRIVER, machine);
        this.netdevs = netdevs;
    }

    private static MacAddress mac(String v) throws QmpException {
        try {
            return MacAddress.parse(v);
        } catch (RuntimeException e) {
            throw QmpException.generic("Property '" + DEVICE + ".mac' doesn't take value '" + v + "'");
        }
    }

    /** QEMU's boolean property spellings. */
    private static boolean bool(String v) throws QmpException {
        return switch (v) {
            case "on", "true", "yes", "y" -> true;
            case "off", "false", "no", "n" -> false;
            default -> throw QmpException.generic("Parameter 'mq' expects 'on' or 'off'");
        };
    }

    @Override
    protected void add(String id, PciPlug.Where where, JsonNode args) throws QmpException {
        PciTarget target = new PciTarget(where.busName(), -1, 0);
        String netdev = null;
        MacAddress mac = null;
        boolean mq = false;
        for (Iterator<Map.Entry<String, JsonNode>> it = args.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            String value = p.getValue().asText();
            switch (p.getKey()) {
                case "netdev" -> {
                    if (netdevs.find(value) == null) throw QmpException.generic("Property '" + DEVICE + ".netdev' can't find value '" + value + "'");
                    if (netdevs.user(value) != null) {
                        throw QmpException.generic("Property '" + DEVICE + ".netdev' can't take value '" + value + "', it's in use");
                    }
                    netdev = value;
                }
                case "mac" -> mac = mac(value);
                case "mq" -> mq = bool(value);
                case "addr" -> target = PciPlug.address(DRIVER, where.busName(), value);
                default -> {
                    if (!PROPERTIES.contains(p.getKey())) throw QmpException.generic("Property '" + DRIVER + "." + p.getKey() + "' not found");
                }
            }
        }
        PciPlug.slotFree(where, target, DRIVER, qdevId);
        if (netdev == null) throw QmpException.generic("netdev property not set (this VMM's virtio-net needs a tap from netdev_add)");
        Netdevs.Netdev n = netdevs.find(netdev);
        if (!mq && n.tap().queues() > 1) {
            throw QmpException.generic("netdev '" + netdev + "' has " + n.tap().queues() + " queues: give mq=on (without it this VMM"
                    + " would leave all but one unread)");
        }
        PciHotplug h = PciPlug.hotplug(hotplug, where);
        String claimant = claimant(id);
        if (!netdevs.claim(netdev, claimant)) throw QmpException.generic("Property '" + DEVICE + ".netdev' can't take value '" + netdev + "', it's in use");
        NetOptions spec = new NetOptions(n.tap().name(), n.tap().queues(), mac, null, 0, NetOptions.DEFAULT_QUEUE_SIZE, null, null, null);
        String claimed = netdev;
        PciPlug.plug(h, id, DRIVER, target, () -> VirtioNetAttach.overOpenTap(spec, index(), n.tap()),
                () -> netdevs.release(claimed));
    }
}
