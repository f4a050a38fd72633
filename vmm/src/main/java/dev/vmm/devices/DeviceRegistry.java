package dev.vmm.devices;

import dev.vmm.machine.BlockDrive;
import dev.vmm.machine.PciSubsystem;
import dev.vmm.virtio.console.VirtioConsole;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

/**
 * The devices of a machine as the rest of the VMM sees them: the virtio transports (snapshots,
 * migration), the drives and the console by their QMP names, the {@code --stats} lines, the disk
 * locks a migration hands over, and the order in which everything is closed.
 */
public final class DeviceRegistry {
    private final PciSubsystem pci;
    private final List<IoThread> ioThreads;
    private final List<VirtioPciDevice> transports = new ArrayList<>();
    private final List<BlockDrive> drives = new ArrayList<>();
    private final List<DiskLocks> diskLocks = new ArrayList<>();
    private final List<Supplier<String>> stats = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<AutoCloseable> afterThreads = new ArrayList<>();
    private final List<String> unsaveable = new ArrayList<>();
    private VirtioConsole console;
    private volatile dev.vmm.balloon.MachineBalloon balloon; // --balloon (docs/balloon.md)
    /** USB devices and their controller's plug interface (issue 20). */
    private final UsbBus usb = new UsbBus();
    private volatile boolean diskLocksReleased;

    public DeviceRegistry(PciSubsystem pci, List<IoThread> ioThreads) {
        this.pci = pci;
        this.ioThreads = ioThreads;
    }

    /** The machine's USB devices: the xHCI attach connects its root hub, USB devices plug into it. */
    public UsbBus usb() { return usb; }

    /** The machine's PCI (root bus, for saving every function's config space). */
    public PciSubsystem pci() { return pci; }

    synchronized void addTransport(VirtioPciDevice d) { transports.add(d); }

    /**
     * The virtio transports in attach order (the order of the command line's device options), then
     * those of devices plugged at run time (snapshots and migration carry them, issue 15).
     */
    public synchronized List<VirtioPciDevice> transports() {
        List<VirtioPciDevice> all = new ArrayList<>(transports);
        for (DeviceRegistry c : children) all.addAll(c.transports());
        return Collections.unmodifiableList(all);
    }

    public synchronized void addDrive(BlockDrive d) { drives.add(d); }

    // --- qdev ids of PCI functions (query-pci's qdev_id; --pcie-root-port id=, device_add id=) ---
    private final java.util.Map<dev.vmm.chipset.pci.PciDevice, String> qdevIds = new java.util.IdentityHashMap<>();

    public synchronized void qdevId(dev.vmm.chipset.pci.PciDevice device, String id) { qdevIds.put(device, id); }

    /** The id {@code device} was created with, or null. */
    public synchronized String qdevId(dev.vmm.chipset.pci.PciDevice device) { return qdevIds.get(device); }

    /** The virtio-blk disks, in command-line order, then those of devices plugged at run time (for QMP block commands). */
    public synchronized List<BlockDrive> drives() {
        List<BlockDrive> all = new ArrayList<>(drives);
        for (DeviceRegistry c : children) all.addAll(c.drives());
        return List.copyOf(all);
    }

    // --- devices plugged at run time (dev.vmm.hotplug): each registers into a registry of its own ---
    private final List<DeviceRegistry> children = new ArrayList<>();

    /** A hot-plugged device's registry: its drives are the machine's while it is plugged. */
    public synchronized void addChild(DeviceRegistry child) {
        if (diskLocksReleased) child.deferDiskLocks(); // a start-up device with id= on an incoming machine (dev.vmm.hotplug.ColdPlug)
        children.add(child);
    }

    /** The device is gone (its registry was closed by the caller). */
    public synchronized void removeChild(DeviceRegistry child) { children.remove(child); }

    /** The device left the machine: it has no qdev id any more. */
    public synchronized void forgetQdevId(dev.vmm.chipset.pci.PciDevice device) { qdevIds.remove(device); }

    public void setConsole(VirtioConsole c) { console = c; }

    /** The virtio-console device (port hot-plug over QMP), or null when the machine has none. */
    public VirtioConsole console() { return console; }

    public void setBalloon(dev.vmm.balloon.MachineBalloon b) { balloon = b; }

    /** The virtio-balloon (QMP balloon, query-balloon, qom-get), or null when the machine has none. */
    public dev.vmm.balloon.MachineBalloon balloon() { return balloon; }

    // --- USB (--usb): the xHCI controller's root hub, where USB devices are plugged. ---
    private volatile dev.vmm.usb.UsbHub usbHub;

    public void setUsbHub(dev.vmm.usb.UsbHub hub) { usbHub = hub; }

    /** The USB host controller's root hub, or null when the machine has none ({@code --usb}). */
    public dev.vmm.usb.UsbHub usbHub() { return usbHub; }

    /** A device's statistics for {@code --stats} (e.g. per-queue latency histograms). */
    public synchronized void statsFrom(Supplier<String> s) { stats.add(s); }

    public synchronized String statistics() {
        StringBuilder sb = new StringBuilder();
        for (var s : stats) sb.append(s.get());
        for (DeviceRegistry c : children) sb.append(c.statistics());
        return sb.toString();
    }

    /**
     * A device (or chipset part) whose state snapshots and migration cannot carry yet: saving the
     * machine is refused with its name instead of silently losing that state.
     */
    public synchronized void cannotSaveState(String what) { unsaveable.add(what); }

    // --- parts of a device family that QMP reaches by type (e.g. the AHCI drives) ---
    private final List<Object> parts = new ArrayList<>();

    public synchronized void addPart(Object part) { parts.add(part); }

    /** The parts of {@code kind} here and in the registries of devices plugged since (issue 15: a start-up device with an id has its own). */
    public synchronized <T> List<T> partsWithChildren(Class<T> kind) {
        List<T> out = new ArrayList<>(parts(kind));
        for (DeviceRegistry c : children) out.addAll(c.partsWithChildren(kind));
        return out;
    }

    /** The parts of {@code kind}, in the order they were added. */
    public synchronized <T> List<T> parts(Class<T> kind) {
        return parts.stream().filter(kind::isInstance).map(kind::cast).toList();
    }

    private final List<java.util.function.Supplier<String>> unsaveableWhile = new ArrayList<>();

    /** A part whose state snapshots do not carry only in some states: {@code why} names it then, else null. */
    public synchronized void cannotSaveStateWhile(java.util.function.Supplier<String> why) { unsaveableWhile.add(why); }

    /** What {@link #cannotSaveState} named, in order; empty when the whole machine can be saved. */
    public synchronized List<String> unsaveable() {
        List<String> out = new ArrayList<>(unsaveable);
        for (var w : unsaveableWhile) {
            String s = w.get();
            if (s != null) out.add(s);
        }
        return List.copyOf(out);
    }

    /** Image locks of a device that a migration hands over. */
    public synchronized void addDiskLocks(DiskLocks l) { diskLocks.add(l); }

    /**
     * An incoming-migration destination: its disks were opened without their locks (the source
     * holds them until the hand-over); {@link #startAfterStateChange()} takes them.
     */
    public void deferDiskLocks() { diskLocksReleased = true; }

    /** Devices to close when the machine goes away (before the I/O threads stop). */
    public synchronized void closeLater(AutoCloseable c) { closeables.add(c); }

    /** Backends to close once no I/O thread can touch them any more. */
    public synchronized void closeAfterIoThreads(AutoCloseable c) { afterThreads.add(c); }

    /**
     * Restarts devices stopped by a state save, or loaded from a saved state (before the vCPUs run
     * again). Disk locks handed over (or deferred) are taken first.
     */
    public void startAfterStateChange() {
        acquireDiskLocks();
        for (VirtioPciDevice d : transports()) d.startAfterStateChange();
    }

    /** Migration source after READY: every disk's writes made durable and its lock dropped, for the destination. */
    public synchronized void releaseDiskLocks() {
        for (DiskLocks l : diskLocks) l.release();
        diskLocksReleased = true;
        for (DeviceRegistry c : children) c.releaseDiskLocks();
    }

    /**
     * Takes the disk locks back (source resumed after a hand-over) or for the first time (the
     * destination at GO). The other side drops them just before GO; a few retries cover the time
     * the message takes. A lock that stays taken is a warning, not a stop: the guest is already
     * running nowhere else.
     */
    private synchronized void acquireDiskLocks() {
        for (DeviceRegistry c : children) c.acquireDiskLocks();
        if (!diskLocksReleased) return;
        diskLocksReleased = false;
        for (DiskLocks l : diskLocks) acquireWithRetries(l);
    }

    private static void acquireWithRetries(DiskLocks l) {
        for (int attempt = 0; ; attempt++) {
            try {
                l.acquire();
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

    /** Devices, then I/O threads, then backends; errors on the way are not allowed to stop the rest. */
    public void close() {
        List<AutoCloseable> first, last;
        List<DeviceRegistry> plugged;
        synchronized (this) {
            first = new ArrayList<>(closeables);
            last = new ArrayList<>(afterThreads);
            plugged = new ArrayList<>(children);
        }
        for (DeviceRegistry c : plugged) c.close(); // devices plugged at run time, while the I/O threads still run
        for (int i = first.size() - 1; i >= 0; i--) quietly(first.get(i));
        for (IoThread t : ioThreads) quietly(t);
        for (int i = last.size() - 1; i >= 0; i--) quietly(last.get(i));
        quietly(usb);
    }

    private static void quietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            System.err.println("vmm: warning: closing " + c + ": " + e.getMessage());
        }
    }
}
