package dev.vmm.devices;

import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.machine.GsiRouting;

/**
 * What attaching a virtio PCI device needs of KVM: an ioeventfd per queue notify address and an
 * MSI route + irqfd per MSI-X vector, and taking both back when the device is hot-unplugged. The
 * machine's implementation ({@link #of}) is the VM's; a test double records the calls, so the
 * attach and detach paths run without {@code /dev/kvm}.
 */
public interface KvmWiring {
    void registerIoeventfd(int eventfd, long gpa, int len);

    void unregisterIoeventfd(int eventfd, long gpa, int len);

    /** MSI routes for {@code vectors} vectors of one device. */
    GsiRouting.DeviceMsi msiVectors(int vectors);

    /** The device is gone: its routes and irqfds are removed. */
    void releaseMsi(GsiRouting.DeviceMsi msi);

    /** The VM's own wiring: KVM_IOEVENTFD on {@code vm}, routes and irqfds through {@code routing}. */
    static KvmWiring of(VmFd vm, GsiRouting routing) {
        return new KvmWiring() {
            @Override
            public void registerIoeventfd(int eventfd, long gpa, int len) {
                vm.registerIoeventfd(eventfd, gpa, len, false, null);
            }

            @Override
            public void unregisterIoeventfd(int eventfd, long gpa, int len) {
                vm.unregisterIoeventfd(eventfd, gpa, len, false, null);
            }

            @Override
            public GsiRouting.DeviceMsi msiVectors(int vectors) {
                return routing.forDevice(vectors);
            }

            @Override
            public void releaseMsi(GsiRouting.DeviceMsi msi) {
                routing.release(msi);
            }
        };
    }
}
