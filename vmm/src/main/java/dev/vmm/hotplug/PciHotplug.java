package dev.vmm.hotplug;

import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;
import dev.vmm.devices.VirtioAttach;
import dev.vmm.devices.pcie.PlacedDevice;
import dev.vmm.machine.PciSubsystem;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.pci.VirtioPciDevice;

import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * PCI devices plugged while the guest runs ({@code device_add}) and removed when the guest ejects
 * them ({@code device_del}). A device is attached by the same {@link PendingDevice#attach} code the
 * command line's devices use, through {@link PciPlacement#at} (so it lands on the requested bus and
 * slot) and the machine's {@link VirtioAttach} (MSI-X routes, irqfds, ioeventfds), but into a
 * {@link DeviceRegistry} of its own: when the guest ejects it, that registry is closed (queue
 * workers stopped, backend closed), the KVM wiring is taken back, and the caller's
 * {@code released} action runs (a block node claim, a tap) before the device_del future completes.
 *
 * <p>One per machine ({@link #of}); the slots ({@link PciSlots}) are the machine recipe's.
 */
public final class PciHotplug {
    private static final System.Logger LOG = System.getLogger(PciHotplug.class.getName());

    private final AttachContext machine;
    private final PciSlots slots;
    private final Map<String, Plugged> byId = new LinkedHashMap<>();
    private final Map<PciDevice, Plugged> byDevice = new IdentityHashMap<>();

    /** One device plugged at run time; {@code gone} completes once the guest ejected it and it is released. */
    private record Plugged(String id, String driver, String busName, PciPlacement.Downstream bus, VirtioAttach virtio,
                           DeviceRegistry own, VirtioPciDevice transport, Runnable released, CompletableFuture<Void> gone) {}

    /** Told the id of each device with one once the guest ejected it, before its released action and DEVICE_DELETED. */
    private final List<java.util.function.Consumer<String>> ejectedListeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** {@code listener} gets the id of every device with an id the guest ejects (a start-up one's dependants go with it). */
    public void onEjected(java.util.function.Consumer<String> listener) {
        ejectedListeners.add(listener);
    }

    public PciHotplug(AttachContext machine, PciSlots slots) {
        this.machine = machine;
        this.slots = slots;
        slots.onEject(this::ejected);
    }

    /**
     * The machine's hot-plug, made on first use from the parts the builder registered (its
     * {@link AttachContext} and the recipe's {@link PciSlots}); null when the machine has neither.
     */
    public static PciHotplug of(DeviceRegistry registry) {
        synchronized (registry) {
            List<PciHotplug> existing = registry.parts(PciHotplug.class);
            if (!existing.isEmpty()) return existing.getFirst();
            List<AttachContext> ctx = registry.parts(AttachContext.class);
            List<PciSlots> slots = registry.parts(PciSlots.class);
            if (ctx.isEmpty() || slots.isEmpty()) return null;
            PciHotplug h = new PciHotplug(ctx.getFirst(), slots.getFirst());
            registry.addPart(h);
            return h;
        }
    }

    /** Why {@code bus} cannot take a hot-plugged device, or null. */
    public String refusal(String busName, PciPlacement.Downstream bus) {
        return slots.refusal(busName, bus);
    }

    /**
     * Attaches {@code device} (a virtio device's attach code) at {@code target}, gives its BARs
     * addresses and tells the guest. A refusal of the placement (a busy slot) is the attach code's
     * exception; nothing stays behind then.
     *
     * @param released runs once the guest has ejected the device and it is fully gone
     */
    public synchronized void plug(String id, String driver, PciTarget target, PendingDevice device, Runnable released) {
        ensureIoThreads();
        String busName = target.bus() == null ? machine.pci().rootName() : target.bus();
        Plugged p = attachOwn(id, driver, busName, new PlacedDevice(device, target), released, true);
        PciFunction f = p.transport().function();
        PciSubsystem pci = machine.registry().pci();
        HotplugBars.assign(f, pci.root(), new HotplugBars.Range(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_BASE + PciSubsystem.MMIO32_SIZE),
                new HotplugBars.Range(PciSubsystem.IO_BASE, PciSubsystem.IO_BASE + PciSubsystem.IO_SIZE));
        slots.announce(p.bus(), f);
    }

    /**
     * A start-up device given an {@code id} ({@code --disk ...,id=vd1}, as QEMU's {@code -device
     * ...,id=}): attached while the machine is built, like any start-up device (its BARs assigned
     * with the others, nothing announced), but into a registry of its own so that {@code device_del}
     * can take it away again (issue 15: a device hot-plugged at a migration source is a start-up
     * device on the destination). Its host side (image, tap) is its own and closes with it.
     *
     * @throws dev.vmm.config.ConfigException for an id another device has
     */
    public synchronized void coldPlug(String id, String driver, String busName, PendingDevice device) {
        if (byId.containsKey(id) || machine.pci().bus(id) != null) throw new dev.vmm.config.ConfigException("Duplicate ID '" + id + "' for device");
        attachOwn(id, driver, busName, device, () -> { }, false);
    }

    /**
     * Attaches {@code device} into a registry of its own (a child of the machine's) and records it
     * under {@code id}. When the attach fails, {@code closeOnFailure} (run time) closes what it
     * registered; otherwise (machine build) the machine's registry gets it and closes it with the
     * rest when the build gives up, as for any start-up device.
     */
    private Plugged attachOwn(String id, String driver, String busName, PendingDevice device, Runnable released, boolean closeOnFailure) {
        PciPlacement.Downstream bus = machine.pci().bus(busName);
        DeviceRegistry own = new DeviceRegistry(machine.registry().pci(), List.of());
        VirtioAttach virtio = machine.virtio().withRegistry(own);
        AttachContext ctx = new AttachContext(machine.pci(), virtio, own, machine.memory(), machine.ioThreads(),
                machine.cpus(), machine.console(), machine.exits());
        try {
            device.attach(ctx);
        } catch (RuntimeException e) {
            if (closeOnFailure) own.close();
            else machine.registry().addChild(own);
            throw e;
        }
        VirtioPciDevice transport = own.transports().getFirst();
        Plugged p = new Plugged(id, driver, busName, bus, virtio, own, transport, released, new CompletableFuture<>());
        if (id != null) {
            byId.put(id, p);
            machine.registry().qdevId(transport, id);
        }
        byDevice.put(transport, p);
        machine.registry().addChild(own);
        return p;
    }

    /** A machine started without devices has no I/O threads yet: one per vCPU, as at start. */
    private void ensureIoThreads() {
        List<IoThread> threads = machine.ioThreads(); // the machine's own list: closed with it
        synchronized (threads) {
            if (!threads.isEmpty()) return;
            for (int i = 0; i < machine.cpus(); i++) {
                IoThread t = new IoThread("io-" + i, 256);
                t.start();
                threads.add(t);
            }
        }
    }

    /** Whether {@code id} names a device plugged here that the guest has not ejected yet. */
    public synchronized boolean owns(String id) {
        return byId.containsKey(id);
    }

    /** The driver name {@code id} was plugged with, or null. */
    public synchronized String driver(String id) {
        Plugged p = byId.get(id);
        return p == null ? null : p.driver();
    }

    /**
     * device_del: asks the guest to release the device (again, if asked before: QEMU repeats the
     * request too). The future completes once the guest ejected it and everything is released.
     */
    public synchronized CompletableFuture<Void> unplug(String id) {
        Plugged p = byId.get(id);
        if (p == null) throw new IllegalArgumentException("no hot-plugged device " + id);
        String why = slots.refusal(p.busName(), p.bus());  // a start-up device may sit where nothing is hot-pluggable
        if (why != null) throw new IllegalArgumentException(why);
        slots.requestUnplug(p.bus(), p.transport().function());
        return p.gone();
    }

    /** The guest ejected {@code device} (vCPU thread; it is off the bus already). */
    private void ejected(PciDevice device) {
        Plugged p;
        synchronized (this) {
            p = byDevice.remove(device);
            if (p == null) {
                LOG.log(System.Logger.Level.WARNING, "the guest ejected {0}, a device present since start-up: it is off"
                        + " the bus, its host side stays open until the machine stops", device.name());
                return;
            }
            if (p.id() != null) byId.remove(p.id());
        }
        machine.registry().removeChild(p.own());
        machine.registry().forgetQdevId(p.transport());
        p.own().close();                 // queue workers stopped, backend closed (nothing signals any more)
        p.virtio().detach(p.transport());  // then the MSI routes and irqfds go
        try {
            if (p.id() != null) for (java.util.function.Consumer<String> l : ejectedListeners) l.accept(p.id());
            p.released().run();
        } finally {
            p.gone().complete(null);
        }
    }
}
