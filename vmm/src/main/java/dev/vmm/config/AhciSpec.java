package dev.vmm.config;

import java.util.List;

/**
 * The one ICH9 AHCI controller ({@code --ahci}, {@code --cdrom}) and its drives, port = order given.
 * Only {@code --machine q35} has it.
 */
public record AhciSpec(List<AhciDriveOptions> drives) implements DeviceSpec {
    /** The ICH9 AHCI controller's port count. */
    public static final int PORTS = 6;

    public AhciSpec {
        drives = List.copyOf(drives);
        if (drives.isEmpty()) throw new IllegalArgumentException("an AHCI controller needs at least one drive");
        if (drives.size() > PORTS) {
            throw new ConfigException("--ahci/--cdrom: the ICH9 AHCI controller has " + PORTS + " ports, " + drives.size() + " drives given");
        }
    }
}
