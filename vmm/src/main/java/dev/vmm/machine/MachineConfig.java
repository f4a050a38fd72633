package dev.vmm.machine;

import java.nio.file.Path;

/**
 * Everything that defines a machine before it is built. Immutable; produced by the CLI (or a
 * test) and consumed by {@link MachineBuilder}.
 *
 * @param kernel     the kernel image bytes (read by the caller, so errors name the file once)
 * @param kernelName the name to use in messages
 */
public record MachineConfig(long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                            String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats,
                            Devices devices) {
    /** The virtio devices: disks, an entropy source, console ports. */
    public record Devices(java.util.List<DiskSpec> disks, dev.vmm.virtio.rng.RngOptions rng,
                          java.util.List<dev.vmm.virtio.console.ConsolePortOptions> consolePorts,
                          java.util.List<dev.vmm.virtio.net.NetOptions> nets,
                          java.util.List<dev.vmm.virtio.scsi.ScsiOptions> scsiDisks) {
        public static final Devices NONE = new Devices(java.util.List.of(), null, java.util.List.of(), java.util.List.of(),
                java.util.List.of());

        public boolean any() {
            return !disks.isEmpty() || rng != null || !consolePorts.isEmpty() || !nets.isEmpty() || !scsiDisks.isEmpty();
        }
    }

    /** Where COM1's output goes. */
    public sealed interface Serial permits Serial.Stdio, Serial.ToFile, Serial.None {
        record Stdio() implements Serial {}
        record ToFile(Path path) implements Serial {}
        record None() implements Serial {}
    }

    public static final int MAX_CPUS = 255;

    public MachineConfig {
        if (cpus < 1 || cpus > MAX_CPUS) throw new IllegalArgumentException("--cpus must be between 1 and " + MAX_CPUS);
        if (memoryBytes < (16L << 20)) throw new IllegalArgumentException("--memory must be at least 16M");
        if ((memoryBytes & 0xFFF) != 0) throw new IllegalArgumentException("--memory must be a multiple of 4K");
    }
}
