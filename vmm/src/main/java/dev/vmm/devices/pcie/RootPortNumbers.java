package dev.vmm.devices.pcie;

import dev.vmm.config.ConfigException;
import dev.vmm.config.pci.RootPortSpec;

import java.util.HashSet;
import java.util.Set;

/**
 * Physical slot numbers of the root ports of one machine: each (chassis, slot) pair once, as QEMU
 * requires; a port given no slot takes the lowest number not given to another port of its chassis
 * (starting at 1, as Linux names slot 0 oddly in some tools).
 */
public final class RootPortNumbers {
    private final Set<Long> used = new HashSet<>();

    /** Opens the root ports of {@code specs} in order; call {@link #open} for each. */
    public RootPortAttach open(RootPortSpec spec, java.util.List<RootPortSpec> all) {
        int slot = spec.slot();
        if (slot < 0) {
            slot = 1;
            while (used.contains(key(spec.chassis(), slot)) || given(all, spec.chassis(), slot)) slot++;
        }
        if (!used.add(key(spec.chassis(), slot))) {
            throw new ConfigException("--pcie-root-port id=" + spec.id() + ": chassis " + spec.chassis() + " slot " + slot
                    + " is taken by another root port (QEMU: Can't add chassis slot)");
        }
        return new RootPortAttach(spec, slot);
    }

    private static boolean given(java.util.List<RootPortSpec> all, int chassis, int slot) {
        return all.stream().anyMatch(r -> r.chassis() == chassis && r.slot() == slot);
    }

    private static long key(int chassis, int slot) {
        return (long) chassis << 32 | slot;
    }
}
