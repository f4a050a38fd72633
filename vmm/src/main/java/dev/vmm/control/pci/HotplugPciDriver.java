package dev.vmm.control.pci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.control.DeviceDriver;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.devices.PciPlacement;
import dev.vmm.hotplug.PciHotplug;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What a virtio PCI {@code device_add} family shares: its one driver name, the machine's buses and
 * hot-plug, and {@code device_del} (the guest must eject the device; QEMU then reports its
 * {@code virtio-backend} gone before the device). A subclass checks its own properties and plugs.
 */
public abstract class HotplugPciDriver implements DeviceDriver {
    /**
     * What of the machine a family needs.
     *
     * @param placement the machine's PCI buses by name (null while there is no machine)
     * @param qdevId    the {@code id} a device on the bus was given, or null (for messages)
     * @param hotplug   the machine's PCI hot-plug (null: the machine has no hot-plug slots)
     */
    public record Parts(Supplier<PciPlacement> placement, Function<PciFunction, String> qdevId, Supplier<PciHotplug> hotplug) {
        /** The parts of a running machine (its registry holds the placement and, once asked, the hot-plug). */
        public static Parts of(dev.vmm.machine.Machine m) {
            return new Parts(() -> m.devices().parts(PciPlacement.class).stream().findFirst().orElse(null),
                    f -> m.devices().qdevId(f.device()), () -> PciHotplug.of(m.devices()));
        }
    }

    protected final String driver;
    protected final Supplier<PciPlacement> placement;
    protected final Function<PciFunction, String> qdevId;
    protected final Supplier<PciHotplug> hotplug;
    private final AtomicInteger anonymous = new AtomicInteger(100);

    protected HotplugPciDriver(String driver, Parts machine) {
        this.driver = driver;
        this.placement = machine.placement();
        this.qdevId = machine.qdevId();
        this.hotplug = machine.hotplug();
    }

    /** Checks {@code bus} first (QEMU's order), then hands over to {@link #add(String, PciPlug.Where, JsonNode)}. */
    @Override
    public final void add(String driver, String id, JsonNode args) throws QmpException {
        add(id, PciPlug.bus(placement.get(), args, this.driver), args);
    }

    /** The family's own checks (each property as given, then what realize refuses) and the plug. */
    protected abstract void add(String id, PciPlug.Where where, JsonNode args) throws QmpException;

    @Override
    public final Set<String> drivers() {
        return Set.of(driver);
    }

    /** Who a backend is claimed for: the device's id, or QEMU's path of an anonymous device. */
    protected final String claimant(String id) {
        return id != null ? id : "/machine/peripheral-anon/device[" + anonymous.getAndIncrement() + "]";
    }

    /** A number for naming a device's statistics line. */
    protected final int index() {
        return anonymous.get();
    }

    @Override
    public final List<String> childrenDeleted() {
        return List.of("virtio-backend");
    }

    @Override
    public final boolean owns(String id) {
        PciHotplug h = hotplug.get();
        return h != null && driver.equals(h.driver(id));
    }

    @Override
    public final CompletableFuture<Void> delete(String id) throws QmpException {
        PciHotplug h = hotplug.get();
        if (h == null || !owns(id)) throw new QmpException("DeviceNotFound", "Device '" + id + "' not found");
        return h.unplug(id);
    }
}
