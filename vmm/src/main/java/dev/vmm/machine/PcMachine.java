package dev.vmm.machine;

import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.bus.SharedInterruptLine;
import dev.vmm.chipset.firmware.MpTable;
import dev.vmm.chipset.legacy.Pvpanic;
import dev.vmm.chipset.legacy.ResetControl;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * {@code --machine pc}: an i440FX-style PC without firmware. COM1, the i8042 (keyboard controller
 * reset), the CMOS/RTC, the debug-exit and ISA pvpanic ports, the ACPI PM block (S5, SCI 9), the GPE0 block
 * at 0xafe0 (hot-plug events) and the
 * 0xCF8/0xCFC PCI host with 0xCF9 reset; PCI INTx on IOAPIC inputs 16-23; ACPI (RSDP in the BIOS
 * area) and an MP table written by the VMM itself, as firmware would.
 */
public final class PcMachine implements MachineRecipe {
    public static final int COM1_PORT = LegacyPcDevices.COM1_PORT, COM1_IRQ = LegacyPcDevices.COM1_IRQ,
            POST_PORT = LegacyPcDevices.POST_PORT, I8042_KBD_IRQ = LegacyPcDevices.I8042_KBD_IRQ,
            I8042_AUX_IRQ = LegacyPcDevices.I8042_AUX_IRQ, RTC_IRQ = LegacyPcDevices.RTC_IRQ, SCI_IRQ = 9;

    private dev.vmm.hotplug.AcpiPciSlots pciSlots;

    @Override
    public String name() { return "pc"; }

    @Override
    public dev.vmm.hotplug.PciSlots pciSlots() { return pciSlots; }

    @Override
    public long rsdpAddress() { return X86Layout.BIOS_AREA_START; }

    @Override
    public Chipset install(Bus pio, Bus mmio, IntFunction<InterruptLine> isaIrq, MachineConfig cfg, GuestMemory mem,
                           ConsoleOutput console, Consumer<VmExit> exits) {
        long below4g = lowRamEnd(cfg.memoryBytes());
        LegacyPcDevices legacy = LegacyPcDevices.install(pio, isaIrq, cfg, below4g, console, exits);
        // Firmware boot: the i440FX PMC with its PAM registers (SeaBIOS shadows itself through them).
        PciSubsystem pci = cfg.platform().firmwareBoot()
                ? new PciSubsystem(pio, mmio, isaIrq, mem.end(), new ResetControl(legacy.reset()), new dev.vmm.chipset.q35.I440fxPmc())
                : new PciSubsystem(pio, mmio, isaIrq, mem.end(), new ResetControl(legacy.reset()));
        SharedInterruptLine sci = new SharedInterruptLine(isaIrq.apply(SCI_IRQ));
        AcpiPm pm = new AcpiPm(sci.source(), legacy.powerOff());
        pio.register(AcpiPm.DEFAULT_BASE, AcpiPm.SIZE, pm);
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.PIIX4_LENGTH, sci.source());
        pio.register(Gpe0Block.PIIX4_BASE, gpe.length(), gpe);
        // --- PCI hot-plug (issue 15): QEMU's PIIX4 slot registers at 0xae00, events on GPE0 bit 1 ---
        pciSlots = new dev.vmm.hotplug.AcpiPciSlots(gpe);
        pio.register(dev.vmm.chipset.acpi.Piix4PciHotplug.BASE, dev.vmm.chipset.acpi.Piix4PciHotplug.SIZE, pciSlots.block());
        return new Chipset(legacy.com1(), legacy.i8042(), legacy.cmos(), pci, pm, gpe);
    }

    @Override
    public void writeTables(Chipset chipset, MachineConfig cfg, GuestMemory mem, CpuidEntries cpuid) {
        AcpiTables acpi = acpiTables(chipset, cfg);
        mem.write(acpi.address(), acpi.bytes());
        writeMpTable(mem, cfg.smp(), cpuid, chipset.pci());
    }

    @Override
    public AcpiTables acpiTables(Chipset chipset, MachineConfig cfg) {
        PciSubsystem pci = chipset.pci();
        AcpiTables.Builder b = AcpiTables.builder(cfg.cpus())
                .pciRoutes(pci.router().routes())
                .pciBusRange(0, 255)
                .pciIoWindow((int) PciSubsystem.IO_BASE, (int) PciSubsystem.IO_SIZE)
                .pciMmio32Window(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_SIZE)
                .pciMmio64Window(pci.mmio64Base(), PciSubsystem.MMIO64_SIZE)
                .pm(AcpiPm.DEFAULT_BASE, SCI_IRQ)
                .gpe0(Gpe0Block.PIIX4_BASE - AcpiPm.DEFAULT_BASE, Gpe0Block.PIIX4_LENGTH)
                .pvpanic(Pvpanic.DEFAULT_PORT)
                .sleepStates(cfg.sleep().s3(), cfg.sleep().s4()); // --no-s3/--no-s4 (docs/lifecycle.md)
        dev.vmm.smp.SmpTables.acpi(b, cfg.smp(), cpuHotplugBase()); // --cpus topology and CPU hot-plug (docs/hotplug.md)
        // The slots empty or holding start-up devices get Sxx objects; the host bridge's and bridges' not.
        if (pciSlots != null) b.pciHotplug(dev.vmm.chipset.acpi.Piix4PciHotplug.BASE, pciSlots.seal(pci.root()));
        if (cfg.platform().hpet()) b.hpet(dev.vmm.chipset.timer.Hpet.DEFAULT_BASE, dev.vmm.chipset.timer.Hpet.capabilities());
        return b.build(rsdpAddress());
    }

    /** The MP table: one processor per vCPU (APIC id = vCPU id), the IOAPIC, ISA interrupt routing. */
    private static void writeMpTable(GuestMemory mem, dev.vmm.smp.SmpTopology smp, CpuidEntries cpuid, PciSubsystem pci) {
        MpTable.Builder b = dev.vmm.smp.SmpTables.mp(MpTable.builder(smp.cpus()), smp);
        for (var r : pci.mpRoutes()) b.addPciRoute(r.bus(), r.device(), r.pin() - 1, r.gsi()); // MP table pins are 0-based (INTA = 0)
        CpuidEntries.Entry leaf1 = cpuid.find(1, 0);
        if (leaf1 != null) b.cpuid(leaf1.eax, leaf1.edx);
        mem.write(X86Layout.MP_TABLE_ADDR, b.build(X86Layout.MP_TABLE_ADDR));
    }

}
