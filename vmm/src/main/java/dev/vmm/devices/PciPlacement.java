package dev.vmm.devices;

import dev.vmm.chipset.pci.PciBridge;
import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.config.ConfigException;
import dev.vmm.config.pci.PciTarget;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Chooses where a PCI function goes: the first free slot of the current bus; when only one slot is
 * left there, a PCI-to-PCI bridge takes it and later devices go behind the bridge (and so on), so a
 * machine holds any number of devices, as QEMU's pci-bridge allows.
 *
 * <p>A device given {@code bus=}/{@code addr=} goes exactly there instead: its attach code runs
 * inside {@link #at}, and {@link #place} then honours the target. Buses are known by QEMU's names:
 * the root bus ({@code pci.0} on pc, {@code pcie.0} on q35) and each root port or bridge by its id
 * ({@link #addBus}).
 */
public final class PciPlacement {
    /** A named bus devices can be put on: the root bus, a bridge's or a root port's secondary bus. */
    public interface Downstream {
        PciBus bus();

        /** Whether functions below become PCI Express endpoints (a PCIe port's link). */
        default boolean express() { return false; }

        /** Puts {@code dev} at {@code slot}/{@code fn} ({@code slot} -1: first free); a user mistake is a ConfigException. */
        default PciFunction plug(int slot, int fn, PciDevice dev) {
            PciBus b = bus();
            if (slot < 0) return b.attach(dev);
            if (b.function(slot, fn) != null) {
                throw new ConfigException(String.format("PCI: slot %x function %x not available for %s, in use by %s",
                        slot, fn, dev.name(), b.function(slot, fn).device().name()));
            }
            return b.attach(slot, fn, dev);
        }
    }

    private final PciBus root;
    private final String rootName;
    private final Map<String, Downstream> buses = new LinkedHashMap<>();
    private PciBus current;
    private PciTarget target;

    public PciPlacement(PciBus root) {
        this(root, "pci.0");
    }

    /** @param rootName the root bus's name for {@code bus=} ({@code pci.0}, {@code pcie.0}) */
    public PciPlacement(PciBus root, String rootName) {
        this.root = root;
        this.rootName = rootName;
        this.current = root;
        buses.put(rootName, () -> root);
    }

    public String rootName() { return rootName; }

    /** Makes a bus known by {@code id}; a second bus with the same id is the user's mistake. */
    public synchronized void addBus(String id, Downstream bus) {
        if (buses.putIfAbsent(id, bus) != null) throw new ConfigException("Duplicate ID '" + id + "' for device");
    }

    /** The bus named {@code id}, or null. */
    public synchronized Downstream bus(String id) {
        return buses.get(id);
    }

    /** Every named bus, by name (the root first): saved state finds the root ports here. */
    public synchronized Map<String, Downstream> buses() {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(buses));
    }

    /** Puts {@code dev} at a fixed root-bus address (a chipset function such as 00:1f.2). */
    public synchronized void placeAt(int slot, int function, PciDevice dev) {
        root.attach(slot, function, dev);
    }

    /**
     * Runs {@code attach} (a device's attach code) with {@code t} as where its PCI function goes;
     * the call of {@link #place} inside it honours the target.
     */
    public synchronized <T> T at(PciTarget t, Supplier<T> attach) {
        if (t != null) resolve(t);            // an unknown bus is refused before the device is created
        PciTarget saved = target;
        target = t;
        try {
            return attach.get();
        } finally {
            target = saved;
        }
    }

    /** Whether the function placed next becomes a PCI Express endpoint (its target is a PCIe port). */
    public synchronized boolean expressTarget() {
        return target != null && resolve(target).express();
    }

    public synchronized PciFunction place(PciDevice dev) {
        if (target != null) {
            PciTarget t = target;
            target = null;                    // one function per target
            return resolve(t).plug(t.slot(), t.function(), dev);
        }
        int free = 0;
        for (int slot = 0; slot < 32; slot++) if (current.isSlotEmpty(slot)) free++;
        if (free <= 1) {
            PciBridge bridge = new PciBridge();
            current.attach(bridge);
            current = bridge.secondaryBus();
        }
        return current.attach(dev);
    }

    private Downstream resolve(PciTarget t) {
        String name = t.bus() == null ? rootName : t.bus();
        Downstream d = buses.get(name);
        if (d == null) throw new ConfigException("Bus '" + name + "' not found");
        return d;
    }
}
