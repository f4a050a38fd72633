package dev.vmm.control.netdev;

import dev.vmm.control.Backends;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.virtio.net.tap.Tap;

/**
 * The network backends made by QMP {@code netdev_add}, by id: each an open tap, used by at most
 * one NIC. A tap stays open from {@code netdev_add} to {@code netdev_del}; {@code netdev_del} is
 * refused while a NIC uses it (libvirt deletes the device first, then the netdev).
 */
public final class Netdevs extends Backends<Netdevs.Netdev> {
    /** One backend: its id and its tap. */
    public record Netdev(String id, Tap tap) {}

    void add(Netdev n) throws QmpException {
        if (!put(n.id(), n)) {
            n.tap().close();
            throw QmpException.generic("Duplicate ID '" + n.id() + "' for netdev");
        }
    }

    @Override
    protected void close(Netdev n) {
        n.tap().close();
    }

    @Override
    protected QmpException notFound(String id) {
        return new QmpException("DeviceNotFound", "Device '" + id + "' not found");
    }

    @Override
    protected QmpException inUse(String id, String device) {
        return QmpException.generic("netdev '" + id + "' is in use by device '" + device + "': device_del it first (the guest must eject it)");
    }
}
