package dev.vmm.control.netdev;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.machine.Machine;

/** Installs the QMP NIC hot-plug commands of a running machine: netdev_add/del and virtio-net-pci device_add. */
public final class NetHotplug {
    private NetHotplug() {}

    public static void install(QmpServer qmp, DeviceDrivers drivers, Machine m) {
        Netdevs netdevs = new Netdevs();
        dev.vmm.control.fdpass.NamedFds passed = dev.vmm.control.fdpass.NamedFds.install(qmp); // getfd/closefd (libvirt's tap passing)
        NetdevCommands.install(qmp, netdevs, passed);
        if (m.devices() == null) return;
        m.devices().closeLater(netdevs::closeAll); // the taps are closed with the machine
        drivers.register(new VirtioNetPciDriver(netdevs, dev.vmm.control.pci.HotplugPciDriver.Parts.of(m)));
    }
}
