package dev.vmm.firmware;

import java.nio.file.Path;
import java.util.List;

/**
 * The machine-wide options of firmware boot and the platform timers: the firmware image
 * ({@code --bios}; null = direct kernel boot), {@code --boot}, whether the HPET is there
 * ({@code --no-hpet} = QEMU's {@code -machine hpet=off}) and the {@code --smbios} overrides.
 */
public record PlatformOptions(Path bios, BootOptions boot, boolean hpet, List<String> smbios) {
    /** Debian's SeaBIOS, what firmware boot uses unless {@code --bios} names another image. */
    public static final Path DEFAULT_BIOS = Path.of("/usr/share/seabios/bios-256k.bin");

    /** Direct kernel boot with an HPET: what a configuration without these options means. */
    public static final PlatformOptions DEFAULT = new PlatformOptions(null, BootOptions.DEFAULT, true, List.of());

    public PlatformOptions {
        boot = boot == null ? BootOptions.DEFAULT : boot;
        smbios = List.copyOf(smbios);
    }

    public boolean firmwareBoot() { return bios != null; }
}
