package dev.vmm.firmware;

import dev.vmm.chipset.pci.PciBus;
import dev.vmm.chipset.pci.PciFunction;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * fw_cfg {@code bootorder}: the OpenFirmware device paths of the devices given a {@code bootindex},
 * lowest index first, one per line, as SeaBIOS reads them (it matches each path against the
 * devices it finds; devices not listed boot after the listed ones, in its default order). The path
 * of a PCI function is {@code /pci@i0cf8} (the host bridge at I/O port 0xcf8), one
 * {@code /pci-bridge@S} per bridge on the way, then {@code /NODE@S} or {@code /NODE@S,F} (hex slot
 * and function), then the device's own suffix. {@code --boot strict=on} adds the line {@code HALT}:
 * SeaBIOS then boots nothing that is not listed.
 */
public final class BootOrder {
    private final List<String[]> entries = new ArrayList<>();   // {bootindex, path}
    private boolean strict;

    /** Adds {@code source} at the PCI function {@code f}; two devices with one index are the user's error. */
    public BootOrder add(PciFunction f, BootSource source) {
        return add(pathOf(f, source), source.bootIndex());
    }

    /**
     * Adds the boot sources of a device that was just placed: {@code after} minus {@code before} are
     * the functions it added (a bridge, when the root bus was full, and the device's own function).
     */
    public BootOrder addPlaced(java.util.Set<PciFunction> before, List<PciFunction> after, List<BootSource> sources) {
        if (sources.isEmpty()) return this;
        List<PciFunction> added = after.stream().filter(f -> !before.contains(f))
                .filter(f -> !(f.device() instanceof dev.vmm.chipset.pci.PciBridge)).toList();
        if (added.size() != 1) throw new IllegalStateException("a boot device took " + added.size() + " PCI functions");
        for (BootSource s : sources) add(added.getFirst(), s);
        return this;
    }

    /** Adds a path with its boot index. */
    public BootOrder add(String path, int bootIndex) {
        for (String[] e : entries) {
            if (Integer.parseInt(e[0]) == bootIndex) {
                throw new dev.vmm.config.ConfigException("bootindex=" + bootIndex + " is given to two devices (" + e[1] + " and " + path + ")");
            }
        }
        entries.add(new String[] {Integer.toString(bootIndex), path});
        return this;
    }

    public BootOrder strict(boolean strict) {
        this.strict = strict;
        return this;
    }

    /** The paths in boot order (and {@code HALT} when strict). */
    public List<String> paths() {
        List<String> out = new ArrayList<>(entries.stream().sorted(Comparator.comparingInt(e -> Integer.parseInt(e[0])))
                .map(e -> e[1]).toList());
        if (strict) out.add("HALT");
        return out;
    }

    /** The file's bytes: lines joined by newlines with a terminating NUL; empty when nothing is listed. */
    public byte[] bytes() {
        List<String> p = paths();
        return p.isEmpty() ? new byte[0] : (String.join("\n", p) + "\0").getBytes(StandardCharsets.US_ASCII);
    }

    /** The OpenFirmware path of {@code source} on function {@code f}. */
    public static String pathOf(PciFunction f, BootSource source) {
        return pciPrefix(f.bus()) + "/" + source.node() + "@" + unit(f.slot(), f.function()) + source.suffix();
    }

    private static String pciPrefix(PciBus bus) {
        if (bus.isRoot()) return "/pci@i0cf8";
        PciFunction bridge = bus.upstreamBridge().function();
        return pciPrefix(bridge.bus()) + "/pci-bridge@" + unit(bridge.slot(), bridge.function());
    }

    private static String unit(int slot, int function) {
        return function == 0 ? Integer.toHexString(slot) : Integer.toHexString(slot) + "," + Integer.toHexString(function);
    }
}
