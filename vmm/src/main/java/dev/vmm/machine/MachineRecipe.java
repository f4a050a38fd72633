package dev.vmm.machine;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * A kind of machine ({@code --machine NAME}): its chipset devices, how their interrupts are routed,
 * its PCI host, the firmware tables a guest finds (ACPI, MP) and where boot code looks for them.
 * {@link MachineBuilder} does what every machine shares (KVM VM, RAM, vCPUs, I/O threads, the
 * devices of the command line) and asks the recipe for the rest.
 */
public interface MachineRecipe {
    /** The name {@code --machine} takes. */
    String name();

    /**
     * Where RAM below 4 GiB ends for {@code bytes} of memory (the rest goes above 4 GiB): pc keeps
     * up to 3 GiB low; q35 must leave its ECAM window free.
     */
    default long lowRamEnd(long bytes) { return Math.min(bytes, dev.vmm.boot.X86Layout.MMIO_HOLE_START); }

    /** QEMU's name of the root PCI bus ({@code bus=} and {@code query-pci}): {@code pci.0}, or {@code pcie.0} on q35. */
    default String rootBusName() { return "pci.0"; }

    /** Where the ACPI CPU hot-plug register block is (issue 15): QEMU's 0xaf00 on pc, 0x0cd8 on q35. */
    default int cpuHotplugBase() { return dev.vmm.chipset.acpi.AcpiCpuHotplug.PIIX_BASE; }

    /** Whether the machine has the ICH9 AHCI controller ({@code --ahci}, {@code --cdrom}). */
    default boolean hasAhci() { return false; }

    /** Where the ACPI RSDP will be (boot protocols pass it to the kernel before the tables exist). */
    long rsdpAddress();

    /**
     * Puts the chipset on the buses and returns what the rest of the VMM needs of it.
     *
     * @param isaIrq an ISA/IOAPIC interrupt line by GSI
     * @param exits  ends the run (reset, power-off, debug exit, pvpanic)
     */
    Chipset install(Bus pio, Bus mmio, IntFunction<InterruptLine> isaIrq, MachineConfig cfg, GuestMemory memory,
                    ConsoleOutput console, Consumer<VmExit> exits);

    /** Writes the firmware tables once every device is placed and PCI resources are assigned. */
    void writeTables(Chipset chipset, MachineConfig cfg, GuestMemory memory, CpuidEntries cpuid);

    /**
     * The machine's ACPI tables (RSDP at {@link #rsdpAddress()}): what {@link #writeTables} writes for
     * direct boot, and what firmware boot serves through fw_cfg's linker/loader.
     */
    dev.vmm.chipset.acpi.AcpiTables acpiTables(Chipset chipset, MachineConfig cfg);

    /**
     * Parts of this machine's chipset whose state snapshots and migration do not carry yet (the
     * machine then refuses to be saved rather than lose it); empty when everything is carried.
     */
    default java.util.List<String> unsaveableParts() { return java.util.List.of(); }

    /**
     * How this machine announces PCI devices plugged at run time (issue 15: ACPI on pc, PCIe native
     * on q35), valid after {@link #install}; null when it cannot.
     */
    default dev.vmm.hotplug.PciSlots pciSlots() { return null; }

    /**
     * What a recipe built that outlives the build: the devices snapshots and the console need, and its
     * PCI. {@code gpe} is the ACPI GPE0 block hot-plug raises its events on (pc: 0xafe0, q35: PMBASE +
     * 0x20; it shares the SCI with {@code pm}).
     */
    record Chipset(Uart16550 com1, I8042 i8042, CmosRtc cmos, PciSubsystem pci, dev.vmm.chipset.acpi.AcpiPm pm,
                   dev.vmm.chipset.acpi.Gpe0Block gpe) {}

    /** The recipe {@code --machine name} means; an unknown name is the user's error. */
    static MachineRecipe named(String name) {
        return switch (name) {
            case "pc" -> new PcMachine();
            case "q35" -> new Q35Machine();
            default -> throw new dev.vmm.config.ConfigException("--machine: unknown machine '" + name + "' (available: pc, q35)");
        };
    }
}
