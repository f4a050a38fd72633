package dev.vmm.control.netdev;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.control.QmpServer.QmpException;

import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;

import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * QMP {@code netdev_add} and {@code netdev_del}, the arguments libvirt sends for a hot-plugged NIC
 * ({@code type: tap}, {@code id}, {@code ifname}, {@code queues}, {@code vhost: false}), checked with
 * QEMU 7.2's wording. A request that passes every check opens the tap as {@code --net tap=} does
 * ({@link Netdevs}); {@code netdev_del} closes it, refused while a NIC uses it.
 */
public final class NetdevCommands {
    /** QEMU 7.2's NetClientDriver values that netdev_add accepts; only tap is served here. */
    private static final Set<String> QEMU_TYPES = Set.of("user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde",
            "bridge", "hubport", "netmap", "vhost-user", "vhost-vdpa");
    private static final Set<String> TAP_PARAMS = Set.of("type", "id", "ifname", "queues", "vhost", "fd", "fds");
    /** The most queue pairs a virtio-net device here serves (and a tap can have: Linux's MAX_TAP_QUEUES is 256). */
    static final int MAX_QUEUES = 256;

    private NetdevCommands() {}

    /** netdev_add/netdev_del over {@code netdevs}: a valid request opens the tap. */
    public static void install(QmpServer qmp, Netdevs netdevs) {
        install(qmp, netdevs, null);
    }

    /** As above; with {@code passed} (getfd's list), {@code "fd"}/{@code "fds"} take taps the client opened. */
    public static void install(QmpServer qmp, Netdevs netdevs, dev.vmm.control.fdpass.NamedFds passed) {
        qmp.register("netdev_add", a -> {
            validate(a);
            String id = a.get("id").asText();
            if (netdevs.contains(id)) throw QmpException.generic("Duplicate ID '" + id + "' for netdev");
            if (a.has("fd") || a.has("fds")) {
                netdevs.add(new Netdevs.Netdev(id, PassedTap.open(a, passed)));
                return Map.of();
            }
            JsonNode ifname = a.get("ifname");
            if (ifname == null || ifname.isNull()) {
                throw QmpException.generic("netdev_add type=tap needs 'ifname' here (the tap to create or attach; libvirt gives one)");
            }
            JsonNode q = a.get("queues");
            int queues = q == null || q.isNull() ? 1 : (int) queues(q);
            try {
                // The same opening --net tap= does (dev.vmm.virtio.net.tap.Tap): creating one needs CAP_NET_ADMIN.
                netdevs.add(new Netdevs.Netdev(id, Tap.open(ifname.asText(), queues, 0, null)));
            } catch (TapException e) {
                throw QmpException.generic(e.getMessage());
            }
            return Map.of();
        });
        qmp.register("netdev_del", Set.of("id"), a -> {
            JsonNode id = a.get("id");
            if (id == null || id.isNull()) throw QmpException.generic("Parameter 'id' is missing");
            if (!id.isTextual()) throw QmpException.generic("Invalid parameter type for 'id', expected: string");
            netdevs.delete(id.asText());
            return Map.of();
        });
    }

    static void validate(JsonNode a) throws QmpException {
        JsonNode id = a.get("id");
        if (id == null || id.isNull()) throw QmpException.generic("Parameter 'id' is missing");
        JsonNode type = a.get("type");
        if (type == null || type.isNull()) throw QmpException.generic("Parameter 'type' is missing");
        if (!QEMU_TYPES.contains(type.asText())) {
            throw QmpException.generic("Parameter 'type' does not accept value '" + type.asText() + "'");
        }
        if (!DeviceDrivers.validId(id.asText())) throw QmpException.generic("Parameter 'id' expects an identifier");
        if (!type.asText().equals("tap")) {
            throw QmpException.generic("netdev type '" + type.asText() + "' is not supported by this VMM (only tap)");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            JsonNode v = p.getValue();
            switch (p.getKey()) {
                case "ifname" -> {
                    if (!v.isTextual()) throw QmpException.generic("Invalid parameter type for 'ifname', expected: string");
                    try {
                        Tap.validateName(v.asText(), "ifname"); // the rule --net tap= follows
                    } catch (TapException e) {
                        throw QmpException.generic(e.getMessage());
                    }
                }
                case "fd", "fds" -> {
                    if (!v.isTextual()) throw QmpException.generic("Invalid parameter type for '" + p.getKey() + "', expected: string");
                }
                case "vhost" -> {
                    if (!v.isBoolean()) throw QmpException.generic("Invalid parameter type for 'vhost', expected: boolean");
                    if (v.asBoolean()) throw QmpException.generic("vhost=on is not supported by this VMM (its virtio-net is served in user space)");
                }
                case "queues" -> {
                    long q = queues(v);
                    if (q < 1 || q > MAX_QUEUES) throw QmpException.generic("queues must be 1.." + MAX_QUEUES + ", not " + q);
                }
                default -> {
                    if (!TAP_PARAMS.contains(p.getKey())) throw QmpException.generic("Parameter '" + p.getKey() + "' is unexpected");
                }
            }
        }
    }

    /** QEMU reads {@code queues} as an unsigned number, given as a JSON number or as its text. */
    static long queues(JsonNode v) throws QmpException {
        try {
            if (v.isIntegralNumber() && v.canConvertToLong() && v.asLong() >= 0) return v.asLong();
            if (v.isTextual()) return Long.parseUnsignedLong(v.asText().trim());
        } catch (NumberFormatException e) {
            // reported below
        }
        throw QmpException.generic("Parameter 'queues' expects uint64");
    }
}
