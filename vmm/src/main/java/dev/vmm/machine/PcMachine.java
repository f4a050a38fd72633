package dev.vmm.machine;

import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.firmware.MpTable;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.DebugExit;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Pvpanic;
import dev.vmm.chipset.legacy.ResetControl;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * {@code --machine pc}: an i440FX-style PC without firmware. COM1, the i8042 (keyboard controller
 * reset), the CMOS/RTC, the debug-exit and ISA pvpanic ports, the ACPI PM block (S5, SCI 9) and the
 * 0xCF8/0xCFC PCI host with 0xCF9 reset; PCI INTx on IOAPIC inputs 16-23; ACPI (RSDP in the BIOS
 * area) and an MP table written by the VMM itself, as firmware would.
 */
public final class PcMachine implements MachineRecipe {
    public static final int COM1_PORT = 0x3f8, COM1_IRQ = 4, POST_PORT = 0x80, I8042_KBD_IRQ = 1, I8042_AUX_IRQ = 12,
            RTC_IRQ = 8, SCI_IRQ = 9;

    @Override
    public String name() { return "pc"; }

    @Override
    public long rsdpAddress() { return X86Layout.BIOS_AREA_START; }

    @Override
    public Chipset install(Bus pio, Bus mmio, IntFunction<InterruptLine> isaIrq, MachineConfig cfg, GuestMemory mem,
                           ConsoleOutput console, Consumer<VmExit> exits) {
        Uart16550 com1 = new Uart16550(isaIrq.apply(COM1_IRQ), console);
        pio.register(COM1_PORT, Uart16550.SIZE, com1);
        Runnable reset = () -> exits.accept(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null));
        I8042 i8042 = new I8042(isaIrq.apply(I8042_KBD_IRQ), isaIrq.apply(I8042_AUX_IRQ), reset);
        pio.register(I8042.BASE, I8042.SIZE, i8042);
        PciSubsystem pci = new PciSubsystem(pio, mmio, isaIrq, mem.end(), new ResetControl(reset));
        long below4g = Math.min(cfg.memoryBytes(), X86Layout.MMIO_HOLE_START);
        CmosRtc cmos = new CmosRtc(java.time.Clock.systemUTC(), isaIrq.apply(RTC_IRQ), below4g, cfg.memoryBytes() - below4g);
        pio.register(CmosRtc.BASE, CmosRtc.SIZE, cmos);
        pio.register(DebugExit.DEFAULT_PORT, DebugExit.SIZE, new DebugExit(v -> exits.accept(VmExit.guestExit(v))));
        pio.register(Pvpanic.DEFAULT_PORT, Pvpanic.SIZE, new Pvpanic(ev -> exits.accept(VmExit.pvpanic("pvpanic", ev))));
        pio.register(POST_PORT, 1, NULL_DEVICE);
        pio.register(AcpiPm.DEFAULT_BASE, AcpiPm.SIZE, new AcpiPm(isaIrq.apply(SCI_IRQ),
                () -> exits.accept(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null))));
        return new Chipset(com1, i8042, cmos, pci);
    }

    @Override
    public void writeTables(Chipset chipset, MachineConfig cfg, GuestMemory mem, CpuidEntries cpuid) {
        PciSubsystem pci = chipset.pci();
        AcpiTables acpi = AcpiTables.builder(cfg.cpus())
                .pciRoutes(pci.router().routes())
                .pciBusRange(0, 255)
                .pciIoWindow((int) PciSubsystem.IO_BASE, (int) PciSubsystem.IO_SIZE)
                .pciMmio32Window(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_SIZE)
                .pciMmio64Window(pci.mmio64Base(), PciSubsystem.MMIO64_SIZE)
                .pm(AcpiPm.DEFAULT_BASE, SCI_IRQ)
                .pvpanic(Pvpanic.DEFAULT_PORT)
                .build(rsdpAddress());
        mem.write(acpi.address(), acpi.bytes());
        writeMpTable(mem, cfg.cpus(), cpuid, pci);
    }

    /** The MP table: one processor per vCPU (APIC id = vCPU id), the IOAPIC, ISA interrupt routing. */
    private static void writeMpTable(GuestMemory mem, int cpus, CpuidEntries cpuid, PciSubsystem pci) {
        MpTable.Builder b = MpTable.builder(cpus);
        for (var r : pci.mpRoutes()) b.addPciRoute(r.bus(), r.device(), r.pin() - 1, r.gsi()); // MP table pins are 0-based (INTA = 0)
        CpuidEntries.Entry leaf1 = cpuid.find(1, 0);
        if (leaf1 != null) b.cpuSignature(leaf1.eax).cpuFeatures(leaf1.edx);
        mem.write(X86Layout.MP_TABLE_ADDR, b.build(X86Layout.MP_TABLE_ADDR));
    }

    /** Swallows writes and reads as zero (the POST diagnostic port, and other ports guests poke for delays). */
    static final BusDevice NULL_DEVICE = new BusDevice() {
        @Override public long read(long offset, int size) { return 0; }
        @Override public void write(long offset, int size, long value) { }
    };
}
