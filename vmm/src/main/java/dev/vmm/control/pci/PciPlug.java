package dev.vmm.control.pci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.config.ConfigException;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;
import dev.vmm.hotplug.PciHotplug;
import dev.vmm.hotplug.PlugErrors;

import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The parts of a PCI {@code device_add} every hot-pluggable driver shares, in QEMU's order and
 * wording: the {@code bus} (first), {@code addr}, the slot being free, and the plug itself
 * through the machine's {@link PciHotplug}.
 */
public final class PciPlug {
    private PciPlug() {}

    /** The bus a device goes on: by name, or the root bus. */
    public record Where(String busName, PciPlacement.Downstream bus) {}

    /** {@code bus} (default: the root bus); a bus behind a PCI-to-PCI bridge is refused (RHEL 7's rule). */
    public static Where bus(PciPlacement pci, JsonNode args, String driver) throws QmpException {
        if (pci == null) throw QmpException.generic("No 'PCI' bus found for device '" + driver + "'");
        String busName = args.hasNonNull("bus") ? args.get("bus").asText() : pci.rootName();
        PciPlacement.Downstream bus = pci.bus(busName);
        if (bus == null) throw QmpException.generic("Bus '" + busName + "' not found");
        if (!bus.bus().isRoot() && !bus.express()) throw QmpException.generic(PlugErrors.behindBridge(busName));
        return new Where(busName, bus);
    }

    /** {@code addr=SLOT[.FN]} on {@code bus}. */
    public static PciTarget address(String driver, String bus, String addr) throws QmpException {
        try {
            return PciTarget.of(driver, bus, addr);
        } catch (ConfigException e) {
            throw QmpException.generic("Property '" + driver + ".addr' doesn't take value '" + addr + "'");
        }
    }

    /** Refuses an occupied slot, naming its occupant as QEMU does (a PCIe port has one slot: 0). */
    public static void slotFree(Where w, PciTarget target, String driver, Function<PciFunction, String> qdevId) throws QmpException {
        int slot = target.slot() >= 0 ? target.slot() : w.bus().express() ? 0 : -1;
        if (slot < 0) return;
        PciFunction busy = w.bus().bus().function(slot, target.function());
        if (busy == null) return;
        String owner = qdevId.apply(busy);
        // QEMU names the occupant by its driver: a virtio transport is "<device>-pci".
        String name = busy.device().name() + (busy.device() instanceof dev.vmm.virtio.pci.VirtioPciDevice ? "-pci" : "");
        throw QmpException.generic(String.format("PCI: slot %d function %d not available for %s, in use by %s,id=%s",
                slot, target.function(), driver, name, owner == null ? "(null)" : owner));
    }

    /** The machine's hot-plug, if the bus can take a device at run time. */
    public static PciHotplug hotplug(Supplier<PciHotplug> hotplug, Where w) throws QmpException {
        PciHotplug h = hotplug.get();
        if (h == null) throw QmpException.generic("Bus '" + w.busName() + "' does not support hotplugging");
        String refused = h.refusal(w.busName(), w.bus());
        if (refused != null) throw QmpException.generic(refused);
        return h;
    }

    /** Plugs {@code device}; if that fails, {@code released} runs (the backend's claim is dropped) and the error is QEMU-shaped. */
    public static void plug(PciHotplug h, String id, String driver, PciTarget target, Supplier<PendingDevice> device,
                            Runnable released) throws QmpException {
        try {
            h.plug(id, driver, target, device.get(), released);
        } catch (RuntimeException e) {
            released.run();
            throw QmpException.generic(PlugErrors.message(driver, e));
        }
    }
}
