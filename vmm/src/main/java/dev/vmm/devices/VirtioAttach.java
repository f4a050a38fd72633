package dev.vmm.devices;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.machine.GsiRouting;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.pci.NotifyRegistrar;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.IntUnaryOperator;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Connects a virtio device to KVM through its PCI transport: each MSI-X vector gets a GSI route and
 * an irqfd ({@link GsiRouting}); each queue's notify register gets an ioeventfd, so a guest kick
 * reaches an I/O thread without a VMM exit. Devices with their own queue workers (blk, net, scsi)
 * hand over their eventfds; for the others an I/O thread watches the eventfd and runs the queue
 * through the transport.
 */
public final class VirtioAttach {
    private final VmFd vm;
    private final GuestMemory memory;
    private final GsiRouting routing;
    private final List<IoThread> ioThreads;
    private final PciPlacement placement;
    private final DeviceRegistry registry;
    private int nextThread;

    public VirtioAttach(VmFd vm, GuestMemory memory, GsiRouting routing, List<IoThread> ioThreads, PciPlacement placement,
                        DeviceRegistry registry) {
        this.vm = vm;
        this.memory = memory;
        this.routing = routing;
        this.ioThreads = ioThreads;
        this.placement = placement;
        this.registry = registry;
    }

    /**
     * A single-vector MSI sink for a non-virtio device (AHCI): the message's address/data become a
     * KVM GSI route (updated whenever the guest reprograms them) and each message an irqfd write.
     */
    public dev.vmm.chipset.pci.MsiSink msiSink() {
        GsiRouting.DeviceMsi msi = routing.forDevice(1);
        return new dev.vmm.chipset.pci.MsiSink() {
            private long routedAddress = -1;
            private int routedData;

            @Override
            public synchronized void signal(int vector, long address, int data) {
                if (address != routedAddress || data != routedData) {
                    msi.listener().vectorChanged(0, address, data, false);
                    routedAddress = address;
                    routedData = data;
                }
                msi.sink().signal(0, address, data);
            }
        };
    }

    /**
     * Attaches {@code device}. {@code ownEventFd} maps a queue index to the eventfd the device
     * already serves on its own thread, or is null when an I/O thread here should serve kicks.
     */
    public VirtioPciDevice attach(VirtioDevice device, IntUnaryOperator ownEventFd) {
        int vectors = device.queueCount() + 1;
        GsiRouting.DeviceMsi msi = routing.forDevice(vectors);
        VirtioPciDevice dev = new VirtioPciDevice(device, memory, msi.sink(), msi.listener(), vectors, placement.expressTarget());
        int[] eventfds = new int[device.queueCount()];
        for (int q = 0; q < eventfds.length; q++) {
            if (ownEventFd != null) {
                eventfds[q] = ownEventFd.applyAsInt(q);
            } else {
                int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
                eventfds[q] = efd;
                int queue = q;
                MemorySegment buf = Arena.ofAuto().allocate(JAVA_LONG);
                IoThread t = ioThreads.get(nextThread++ % ioThreads.size());
                t.addFd(efd, () -> {
                    Libc.readRaw(efd, buf, 8);         // consume the kick count
                    dev.queueNotified(queue);
                });
            }
        }
        dev.setNotifyRegistrar(new NotifyRegistrar() {
            @Override
            public void register(int queue, long gpa, int len) {
                if (gpa != PciBar.UNMAPPED) vm.registerIoeventfd(eventfds[queue], gpa, len, false, null);
            }

            @Override
            public void unregister(int queue, long gpa, int len) {
                if (gpa != PciBar.UNMAPPED) vm.unregisterIoeventfd(eventfds[queue], gpa, len, false, null);
            }
        });
        placement.place(dev);
        registry.addTransport(dev);
        return dev;
    }
}
