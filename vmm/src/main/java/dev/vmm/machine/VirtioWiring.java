package dev.vmm.machine;

import dev.vmm.chipset.pci.PciBar;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.VirtioDevice;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.pci.NotifyRegistrar;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntUnaryOperator;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Puts virtio devices on the machine's PCI bus and connects them to KVM: each MSI-X vector gets
 * a GSI route and an irqfd ({@link GsiRouting}); each queue's notify register gets an ioeventfd,
 * so a guest kick reaches an I/O thread without a VMM exit. Devices with their own I/O threads
 * (virtio-blk) hand over their eventfds; for the others an I/O thread watches the eventfd and
 * runs the queue through the transport.
 */
public final class VirtioWiring {
    private final VmFd vm;
    private final GuestMemory memory;
    private final PciSubsystem pci;
    private final GsiRouting routing;
    private final List<IoThread> ioThreads;
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private int nextThread;

    public VirtioWiring(VmFd vm, GuestMemory memory, PciSubsystem pci, GsiRouting routing, List<IoThread> ioThreads) {
        this.vm = vm;
        this.memory = memory;
        this.pci = pci;
        this.routing = routing;
        this.ioThreads = ioThreads;
    }

    /**
     * Attaches {@code device}. {@code ownEventFd} maps a queue index to the eventfd the device
     * already serves on its own thread, or is null when the VMM should serve kicks.
     */
    public VirtioPciDevice attach(VirtioDevice device, IntUnaryOperator ownEventFd) {
        int vectors = device.queueCount() + 1;
        GsiRouting.DeviceMsi msi = routing.forDevice(vectors);
        VirtioPciDevice dev = new VirtioPciDevice(device, memory, msi.sink(), msi.listener(), vectors);
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
        placeOnBus(dev);
        transports.add(dev);
        return dev;
    }

    private final List<VirtioPciDevice> transports = new ArrayList<>();

    /** The virtio transports in attach order (the order of the command line's device options). */
    public List<VirtioPciDevice> transports() {
        return java.util.Collections.unmodifiableList(transports);
    }

    /** The machine's PCI (root bus, for saving every function's config space). */
    public PciSubsystem pci() {
        return pci;
    }

    /**
     * Restarts devices stopped by a state save, or loaded from a saved state (before the vCPUs run
     * again). Disk locks handed over (or deferred) are taken first.
     */
    public void startAfterStateChange() {
        acquireDiskLocks();
        for (VirtioPciDevice d : transports) d.startAfterStateChange();
    }

    private volatile boolean deferDiskLocks;
    private volatile boolean diskLocksReleased;

    /** An incoming-migration destination: open disks without their locks (the source holds them until the hand-over). */
    public void deferDiskLocks() {
        deferDiskLocks = true;
        diskLocksReleased = true;
    }

    /** Whether disks are to be opened without their locks ({@link #deferDiskLocks()}). */
    public boolean diskLocksDeferred() { return deferDiskLocks; }

    /** Migration source after READY: every disk's writes made durable and its lock dropped, for the destination. */
    public synchronized void releaseDiskLocks() {
        for (VirtioPciDevice d : transports) {
            if (d.device() instanceof dev.vmm.virtio.blk.VirtioBlk blk) blk.releaseDiskLock();
            if (d.device() instanceof dev.vmm.virtio.scsi.VirtioScsi scsi) scsi.releaseDiskLocks();
        }
        diskLocksReleased = true;
    }

    /**
     * Takes the disk locks back (source resumed after a hand-over) or for the first time (the
     * destination at GO). The other side drops them just before GO; a few retries cover the time
     * the message takes. A lock that stays taken is a warning, not a stop: the guest is already
     * running nowhere else.
     */
    private synchronized void acquireDiskLocks() {
        if (!diskLocksReleased) return;
        diskLocksReleased = false;
        for (VirtioPciDevice d : transports) {
            if (d.device() instanceof dev.vmm.virtio.blk.VirtioBlk blk) acquireWithRetries(blk::acquireDiskLock);
            if (d.device() instanceof dev.vmm.virtio.scsi.VirtioScsi scsi) acquireWithRetries(scsi::acquireDiskLocks);
        }
    }

    private static void acquireWithRetries(Runnable acquire) {
        for (int attempt = 0; ; attempt++) {
            try {
                acquire.run();
                return;
            } catch (dev.vmm.virtio.blk.BlkBackendException e) {
                if (attempt >= 100) {
                    System.err.println("vmm: warning: " + e.getMessage() + "; running without the lock");
                    return;
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private dev.vmm.chipset.pci.PciBus current;

    /**
     * Puts a device in the first free slot of the current bus; when only one slot is left there,
     * a PCI-to-PCI bridge takes it and later devices go behind the bridge (and so on), so a machine
     * holds any number of devices, as QEMU's pci-bridge allows.
     */
    private void placeOnBus(dev.vmm.chipset.pci.PciDevice dev) {
        if (current == null) current = pci.root();
        int free = 0;
        for (int slot = 0; slot < 32; slot++) if (current.isSlotEmpty(slot)) free++;
        if (free <= 1) {
            dev.vmm.chipset.pci.PciBridge bridge = new dev.vmm.chipset.pci.PciBridge();
            current.attach(bridge);
            current = bridge.secondaryBus();
        }
        current.attach(dev);
    }

    private final List<BlockDrive> drives = new ArrayList<>();
    private dev.vmm.virtio.console.VirtioConsole console;

    void addDrive(BlockDrive d) {
        drives.add(d);
    }

    /** The virtio-blk disks, in command-line order (for QMP block commands). */
    public List<BlockDrive> drives() { return List.copyOf(drives); }

    void setConsole(dev.vmm.virtio.console.VirtioConsole c) {
        console = c;
    }

    /** The virtio-console device (port hot-plug over QMP), or null when the machine has none. */
    public dev.vmm.virtio.console.VirtioConsole console() { return console; }

    private final List<AutoCloseable> afterThreads = new ArrayList<>();
    private final List<java.util.function.Supplier<String>> stats = new ArrayList<>();

    /** A device's statistics for {@code --stats} (e.g. per-queue latency histograms). */
    public void statsFrom(java.util.function.Supplier<String> s) {
        stats.add(s);
    }

    public String statistics() {
        StringBuilder sb = new StringBuilder();
        for (var s : stats) sb.append(s.get());
        return sb.toString();
    }

    /** Devices to close when the machine goes away (before the I/O threads stop). */
    public void closeLater(AutoCloseable c) {
        closeables.add(c);
    }

    /** Backends to close once no I/O thread can touch them any more. */
    public void closeAfterIoThreads(AutoCloseable c) {
        afterThreads.add(c);
    }

    /** Devices, then I/O threads, then backends; errors on the way are not allowed to stop the rest. */
    public void close() {
        for (int i = closeables.size() - 1; i >= 0; i--) quietly(closeables.get(i));
        for (IoThread t : ioThreads) quietly(t);
        for (int i = afterThreads.size() - 1; i >= 0; i--) quietly(afterThreads.get(i));
    }

    private static void quietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            System.err.println("vmm: warning: closing " + c + ": " + e.getMessage());
        }
    }
}
