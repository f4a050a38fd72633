package dev.vmm.machine;

import dev.vmm.config.DeviceSpec;

import java.nio.file.Path;

/**
 * Everything that defines a machine before it is built. Immutable; produced by the CLI (or a
 * test) and consumed by {@link MachineBuilder}.
 *
 * @param kernel     the kernel image bytes (read by the caller, so errors name the file once)
 * @param kernelName the name to use in messages
 */
public record MachineConfig(String machine, long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                            String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats,
                            Devices devices, SleepStates sleep, dev.vmm.firmware.PlatformOptions platform,
                            dev.vmm.smp.SmpTopology smp) {
    /** With today's topology for {@code cpus} (all present, one socket): what callers without {@code --cpus ...,maxcpus=} build. */
    public MachineConfig(String machine, long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                         String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats,
                         Devices devices, SleepStates sleep, dev.vmm.firmware.PlatformOptions platform) {
        this(machine, memoryBytes, cpus, kernel, kernelName, initrd, cmdline, serial, ram, reboot, stats, devices, sleep, platform, null);
    }

    /** Direct kernel boot with the default platform (HPET on) and both sleep states: the form snapshots and older callers use. */
    public MachineConfig(String machine, long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                         String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats, Devices devices) {
        this(machine, memoryBytes, cpus, kernel, kernelName, initrd, cmdline, serial, ram, reboot, stats, devices,
                SleepStates.BOTH, dev.vmm.firmware.PlatformOptions.DEFAULT);
    }

    /** With these sleep states and the default platform. */
    public MachineConfig(String machine, long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                         String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats, Devices devices,
                         SleepStates sleep) {
        this(machine, memoryBytes, cpus, kernel, kernelName, initrd, cmdline, serial, ram, reboot, stats, devices,
                sleep, dev.vmm.firmware.PlatformOptions.DEFAULT);
    }

    /** With this platform and both sleep states. */
    public MachineConfig(String machine, long memoryBytes, int cpus, byte[] kernel, String kernelName, byte[] initrd,
                         String cmdline, Serial serial, GuestRam.Options ram, boolean reboot, boolean stats, Devices devices,
                         dev.vmm.firmware.PlatformOptions platform) {
        this(machine, memoryBytes, cpus, kernel, kernelName, initrd, cmdline, serial, ram, reboot, stats, devices,
                SleepStates.BOTH, platform);
    }

    /** Which ACPI sleep states the DSDT offers ({@code --no-s3}, {@code --no-s4}, as QEMU's disable_s3/disable_s4). */
    public record SleepStates(boolean s3, boolean s4) {
        public static final SleepStates BOTH = new SleepStates(true, true);
    }

    /**
     * The devices the command line added, in the order they are attached (which decides their PCI
     * slots): disks, NICs, the SCSI controller, the rng, the console, then the rest.
     */
    public record Devices(java.util.List<DeviceSpec> specs) {
        public static final Devices NONE = new Devices(java.util.List.of());

        public Devices {
            specs = java.util.List.copyOf(specs);
        }

        /** The specs of one kind, in order. */
        public <T extends DeviceSpec> java.util.List<T> all(Class<T> kind) {
            return specs.stream().filter(kind::isInstance).map(kind::cast).toList();
        }
    }

    /** Where COM1's output goes. */
    public sealed interface Serial permits Serial.Stdio, Serial.ToFile, Serial.None {
        // Explicit toString (the records' own text): picocli prints an option's old value into a trace
        // string on every start, and a record's generated toString bootstraps ObjectMethods (~ms, #19).
        record Stdio() implements Serial { @Override public String toString() { return "Stdio[]"; } }
        record ToFile(Path path) implements Serial { @Override public String toString() { return "ToFile[path=" + path + "]"; } }
        record None() implements Serial { @Override public String toString() { return "None[]"; } }
    }

    public static final int MAX_CPUS = 255;

    /** The machine recipe when none is named ({@code --machine}). */
    public static final String DEFAULT_MACHINE = "pc";

    public MachineConfig {
        if (platform == null) platform = dev.vmm.firmware.PlatformOptions.DEFAULT;
        if (sleep == null) sleep = SleepStates.BOTH;
        if (smp == null && cpus >= 1 && cpus <= MAX_CPUS) smp = dev.vmm.smp.SmpTopology.of(cpus);
        if (smp != null && smp.cpus() != cpus) throw new IllegalArgumentException("topology of " + smp.cpus() + " vCPUs for --cpus " + cpus);
        if (cpus < 1 || cpus > MAX_CPUS) throw new IllegalArgumentException("--cpus must be between 1 and " + MAX_CPUS);
        if (memoryBytes < (16L << 20)) throw new IllegalArgumentException("--memory must be at least 16M");
        if ((memoryBytes & 0xFFF) != 0) throw new IllegalArgumentException("--memory must be a multiple of 4K");
    }
}
