package dev.vmm.config;

/**
 * {@code --pvpanic pci}: QEMU's {@code pvpanic-pci} device (1b36:0011), through which a guest kernel
 * reports a panic. (The ISA flavour at port 0x505 is part of the {@code pc} machine itself.)
 */
public record PvpanicSpec() implements DeviceSpec {
    /** Parses the option's value; {@code pci} is the only flavour that is a separate device. */
    public static PvpanicSpec parse(String text) {
        if (!"pci".equals(text)) {
            throw new ConfigException("--pvpanic: only 'pci' is a device of its own (the ISA pvpanic at 0x505 is always there), not '" + text + "'");
        }
        return new PvpanicSpec();
    }
}
