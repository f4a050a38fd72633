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
    private final KvmWiring kvm;
    private final GuestMemory memory;
    private final List<IoThread> ioThreads;
    private final PciPlacement placement;
    private final DeviceRegistry registry;
    private int nextThread;
    /** What each attached transport holds of KVM and of the I/O threads, for {@link #detach}. */
    private final java.util.Map<VirtioPciDevice, Wired> wired = new java.util.concurrent.ConcurrentHashMap<>();

    private record Wired(GsiRouting.DeviceMsi msi, int[] ownFds, IoThread[] watchers) {}

    public VirtioAttach(VmFd vm, GuestMemory memory, GsiRouting routing, List<IoThread> ioThreads, PciPlacement placement,
                        DeviceRegistry registry) {
        this(KvmWiring.of(vm, routing), memory, ioThreads, placement, registry);
    }

    public VirtioAttach(KvmWiring kvm, GuestMemory memory, List<IoThread> ioThreads, PciPlacement placement,
                        DeviceRegistry registry) {
        this.kvm = kvm;
        this.memory = memory;
        this.ioThreads = ioThreads;
        this.placement = placement;
        this.registry = registry;
    }

    /**
     * The same wiring, placement and I/O threads, registering into {@code other}: a device plugged at
     * run time keeps what it registers in a registry of its own, dropped when it is unplugged.
     */
    public VirtioAttach withRegistry(DeviceRegistry other) {
        return new VirtioAttach(kvm, memory, ioThreads, placement, other);
    }

    /**
     * A single-vector MSI sink for a non-virtio device (AHCI): the message's address/data become a
     * KVM GSI route (updated whenever the guest reprograms them) and each message an irqfd write.
     */
    public dev.vmm.chipset.pci.MsiSink msiSink() {
        GsiRouting.DeviceMsi msi = kvm.msiVectors(1);
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
        GsiRouting.DeviceMsi msi = kvm.msiVectors(vectors);
        VirtioPciDevice dev = new VirtioPciDevice(device, memory, msi.sink(), msi.listener(), vectors, placement.expressTarget());
        int[] eventfds = new int[device.queueCount()];
        IoThread[] watchers = new IoThread[ownEventFd == null ? eventfds.length : 0];
        for (int q = 0; q < eventfds.length; q++) {
            if (ownEventFd != null) {
                eventfds[q] = ownEventFd.applyAsInt(q);
            } else {
                int efd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
                eventfds[q] = efd;
                int queue = q;
                MemorySegment buf = Arena.ofAuto().allocate(JAVA_LONG);
                IoThread t = ioThreads.get(nextThread++ % ioThreads.size());
                watchers[q] = t;
                t.addFd(efd, () -> {
                    Libc.readRaw(efd, buf, 8);         // consume the kick count
                    dev.queueNotified(queue);
                });
            }
        }
        dev.setNotifyRegistrar(new NotifyRegistrar() {
            @Override
            public void register(int queue, long gpa, int len) {
                if (gpa != PciBar.UNMAPPED) kvm.registerIoeventfd(eventfds[queue], gpa, len);
            }

            @Override
            public void unregister(int queue, long gpa, int len) {
                if (gpa != PciBar.UNMAPPED) kvm.unregisterIoeventfd(eventfds[queue], gpa, len);
            }
        });
        wired.put(dev, new Wired(msi, ownEventFd == null ? eventfds : new int[0], watchers));
        try {
            placement.place(dev);
        } catch (RuntimeException e) {
            detach(dev);                      // a refused place (busy slot) keeps no routes or eventfds
            throw e;
        }
        registry.addTransport(dev);
        return dev;
    }

    /**
     * Takes back what {@link #attach} gave a device that is being hot-unplugged, after its queue
     * workers stopped: its function leaves the bus if it is still there (the BAR unmaps, which
     * unregisters the notify ioeventfds), the kick eventfds this class watched are unwatched and
     * closed, and the MSI routes and irqfds are released.
     */
    public void detach(VirtioPciDevice dev) {
        dev.setNotifyRegistrar(null);      // unregisters the ioeventfds if the BAR is still mapped
        dev.vmm.chipset.pci.PciFunction f = dev.function();
        if (f != null && f.bus().function(f.slot(), f.function()) == f) f.bus().detach(f.slot(), f.function());
        Wired w = wired.remove(dev);
        if (w == null) return;
        for (int q = 0; q < w.ownFds().length; q++) {
            int efd = w.ownFds()[q];
            IoThread t = w.watchers()[q];
            t.runAndWait(() -> t.removeFd(efd));
            Libc.close(efd);
        }
        kvm.releaseMsi(w.msi());
    }
}
