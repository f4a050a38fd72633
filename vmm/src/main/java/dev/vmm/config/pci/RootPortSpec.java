package dev.vmm.config.pci;

import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.KeyValueOptions;

import java.util.Set;

/**
 * {@code --pcie-root-port id=NAME[,chassis=N][,slot=N][,port=N][,addr=SLOT[.FN]][,bus=pcie.0]}: a
 * QEMU {@code pcie-root-port} (q35 only) whose secondary bus devices name with {@code bus=NAME}.
 * The keys are QEMU's property names: {@code chassis} and {@code slot} (the physical slot number
 * the OS shows; the pair must be unique), {@code port} (the link's port number).
 *
 * @param slot physical slot number, or -1 for "the next free one" (QEMU's default 0 would collide
 *             as soon as there are two ports; libvirt always sets it)
 */
public record RootPortSpec(String id, int chassis, int slot, int port, PciTarget target) implements DeviceSpec {
    static final Set<String> KEYS = Set.of("id", "chassis", "slot", "port", "addr", "bus");

    public static RootPortSpec parse(String text) {
        String option = "--pcie-root-port";
        KeyValueOptions o = KeyValueOptions.parse(option, text == null ? "" : text, "id", KEYS);
        String id = o.required("id");
        if (!id.matches("[A-Za-z][A-Za-z0-9_.-]{0,63}")) {
            throw new ConfigException(option + ": id must start with a letter and have only letters, digits, '-', '.', '_'");
        }
        if (id.equals("pci.0") || id.equals("pcie.0")) throw new ConfigException(option + ": id=" + id + " is the root bus's name");
        int chassis = (int) o.number("chassis", 0, 0, 255);
        int slot = (int) o.number("slot", -1, 0, 0x1fff);
        int port = (int) o.number("port", 0, 0, 255);
        String bus = o.string("bus", null);
        if (bus != null && !bus.equals("pcie.0")) {
            throw new ConfigException(option + ": bus=" + bus + ": root ports sit on the root bus pcie.0");
        }
        return new RootPortSpec(id, chassis, slot, port, PciTarget.of(option, bus, o.string("addr", null)));
    }
}
