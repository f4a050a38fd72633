package dev.vmm.control.netdev;

import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.virtio.net.tap.Tap;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The network backends made by QMP {@code netdev_add}, by id: each an open tap, used by at most
 * one NIC. A tap stays open from {@code netdev_add} to {@code netdev_del}; {@code netdev_del} is
 * refused while a NIC uses it (libvirt deletes the device first, then the netdev).
 */
public final class Netdevs {
    /** One backend: the tap and the id of the NIC using it (null: free). */
    public record Netdev(String id, Tap tap) {}

    private final Map<String, Netdev> netdevs = new LinkedHashMap<>();
    private final Map<String, String> users = new LinkedHashMap<>();

    synchronized boolean contains(String id) {
        return netdevs.containsKey(id);
    }

    synchronized void add(Netdev n) {
        netdevs.put(n.id(), n);
    }

    /** Closes the tap; refused while a NIC uses it. */
    synchronized void delete(String id) throws QmpException {
        Netdev n = netdevs.get(id);
        if (n == null) throw new QmpException("DeviceNotFound", "Device '" + id + "' not found");
        String user = users.get(id);
        if (user != null) {
            throw QmpException.generic("netdev '" + id + "' is in use by device '" + user + "': device_del it first (the guest must eject it)");
        }
        netdevs.remove(id);
        n.tap().close();
    }

    /** The backend, or null. */
    public synchronized Netdev find(String id) {
        return netdevs.get(id);
    }

    /** The NIC using it, or null. */
    public synchronized String user(String id) {
        return users.get(id);
    }

    /** Marks the backend used by {@code device}; false when it is unknown or used already. */
    public synchronized boolean claim(String id, String device) {
        if (!netdevs.containsKey(id) || users.containsKey(id)) return false;
        users.put(id, device);
        return true;
    }

    /** The NIC is gone (the guest ejected it): the backend may be deleted or used again. */
    public synchronized void release(String id) {
        users.remove(id);
    }

    /** Closes every tap (the machine stops). */
    public synchronized void closeAll() {
        netdevs.values().forEach(n -> n.tap().close());
        netdevs.clear();
        users.clear();
    }
}
