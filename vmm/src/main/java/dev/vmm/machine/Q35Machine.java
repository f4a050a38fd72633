package dev.vmm.machine;

import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.Gpe0Block;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.firmware.MpTable;
import dev.vmm.chipset.legacy.Pvpanic;
import dev.vmm.chipset.legacy.ResetControl;
import dev.vmm.chipset.pci.PciInterruptRouter;
import dev.vmm.chipset.q35.Ich9Lpc;
import dev.vmm.chipset.q35.Q35Mch;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * {@code --machine q35}: the Q35 chipset without firmware (direct kernel boot only). The same ISA
 * devices as {@code pc} ({@link LegacyPcDevices}), the MCH (8086:29c0) at 00:00.0 behind
 * 0xCF8/0xCFC and behind ECAM at {@link #ECAM_BASE} (PCIEXBAR programmed here, as SeaBIOS would),
 * the ICH9 LPC bridge (8086:2918) at 00:1f.0 whose PMBASE places the ACPI PM block (programmed to
 * 0x600 with ACPI_EN, SCI on IRQ 9), and PCI INTx over PIRQA-H on IOAPIC inputs 16-23 (slot S pin P
 * uses PIRQ (S + P - 1) mod 8). ACPI tables for a PCI Express host: PNP0A08 with _OSC, the ECAM
 * window reserved and described by MCFG. No HPET yet (the device model needs a host timer the VMM
 * does not arm yet, so neither the MMIO nor its ACPI table is there) and the ICH9 GPE0 block at PMBASE + 0x20
 * (hot-plug events).
 *
 * <p>Memory: RAM below 4 GiB ends below the ECAM window (at 2 GiB when the guest has 2.75 GiB or
 * more, as QEMU's q35 does); the 32-bit PCI window is above ECAM (0xC0000000 up to the IOAPIC, as
 * QEMU's), the 64-bit one above RAM.
 */
public final class Q35Machine implements MachineRecipe {
    public static final long ECAM_BASE = Q35Mch.DEFAULT_ECAM_BASE, ECAM_SIZE = 256L << 20;
    public static final int LPC_SLOT = 0x1f, PM_BASE = AcpiPm.DEFAULT_BASE, SCI_IRQ = 9;
    /** PIRQA..H reach IOAPIC inputs 16..23. */
    public static final int FIRST_PIRQ_GSI = 16;

    /** The functions the recipe puts on the root bus, for whoever needs them after install (tests, QMP). */
    public record Functions(Q35Mch mch, Ich9Lpc lpc, AcpiPm pm) {}

    private volatile Functions functions;

    @Override
    public String name() { return "q35"; }

    // issue 15: PCIe native hot-plug on the pcie-root-port slots (dev.vmm.hotplug)
    private final dev.vmm.hotplug.PcieNativeSlots pciSlots = new dev.vmm.hotplug.PcieNativeSlots();

    @Override
    public dev.vmm.hotplug.PciSlots pciSlots() { return pciSlots; }

    @Override
    public boolean hasAhci() { return true; }

    @Override
    public String rootBusName() { return "pcie.0"; }

    @Override
    public long rsdpAddress() { return X86Layout.BIOS_AREA_START; }

    @Override
    public int cpuHotplugBase() { return dev.vmm.chipset.acpi.AcpiCpuHotplug.Q35_BASE; }

    @Override
    public long lowRamEnd(long bytes) {
        return bytes >= ECAM_BASE ? 0x8000_0000L : bytes;
    }

    /** The GSI of root slot {@code slot}'s pin {@code pin} (1 = INTA): PIRQ (slot + pin - 1) mod 8. */
    public static int pirqGsi(int slot, int pin) {
        return FIRST_PIRQ_GSI + ((slot + pin - 1) & 7);
    }

    /** What {@link #install} put on the root bus (null before). */
    public Functions functions() { return functions; }

    @Override
    public java.util.List<String> unsaveableParts() {
        // PCIEXBAR, PAM and PMBASE live in config space, which snapshots carry, but their effects
        // (the ECAM window, the PM block's ports) are not re-applied on restore yet.
        return java.util.List.of("the q35 chipset (ECAM and PM block placement)");
    }

    @Override
    public Chipset install(Bus pio, Bus mmio, IntFunction<InterruptLine> isaIrq, MachineConfig cfg, GuestMemory mem,
                           ConsoleOutput console, Consumer<VmExit> exits) {
        long below4g = lowRamEnd(cfg.memoryBytes());
        LegacyPcDevices legacy = LegacyPcDevices.install(pio, isaIrq, cfg, below4g, console, exits);
        PciInterruptRouter router = new PciInterruptRouter(Q35Machine::pirqGsi, isaIrq);
        Q35Mch[] mch = new Q35Mch[1];
        PciSubsystem pci = new PciSubsystem(pio, mmio, mem.end(), router,
                root -> (mch[0] = Q35Mch.attach(root, mmio, below4g)).host(), new ResetControl(legacy.reset()));
        mch[0].enableEcam(ECAM_BASE);

        Ich9Lpc lpc = new Ich9Lpc();
        pci.root().attach(LPC_SLOT, 0, lpc);
        dev.vmm.chipset.bus.SharedInterruptLine sci = new dev.vmm.chipset.bus.SharedInterruptLine(isaIrq.apply(SCI_IRQ));
        AcpiPm pm = new AcpiPm(sci.source(), legacy.powerOff());
        Gpe0Block gpe = new Gpe0Block(Gpe0Block.ICH9_LENGTH, sci.source());
        lpc.setListener(new Ich9Lpc.Listener() {
            private int mapped = -1;

            @Override
            public synchronized void pmBlockChanged(int base, int sciIrq) {
                if (mapped >= 0) {
                    pio.unregister(mapped, pm);
                    pio.unregister(mapped + Gpe0Block.ICH9_OFFSET_IN_PM_BLOCK, gpe);
                }
                mapped = -1;
                if (base >= 0) {
                    pio.register(base, AcpiPm.SIZE, pm);
                    pio.register(base + Gpe0Block.ICH9_OFFSET_IN_PM_BLOCK, gpe.length(), gpe);
                    mapped = base;
                }
            }
        });
        // What firmware does before the OS: PMBASE, then ACPI_EN with SCI select 0 (IRQ 9).
        pci.host().configWrite(0, LPC_SLOT, 0, Ich9Lpc.PMBASE, 4, PM_BASE);
        pci.host().configWrite(0, LPC_SLOT, 0, Ich9Lpc.ACPI_CNTL, 1, Ich9Lpc.ACPI_EN);
        functions = new Functions(mch[0], lpc, pm);
        return new Chipset(legacy.com1(), legacy.i8042(), legacy.cmos(), pci, pm, gpe);
    }

    @Override
    public void writeTables(Chipset chipset, MachineConfig cfg, GuestMemory mem, CpuidEntries cpuid) {
        AcpiTables acpi = acpiTables(chipset, cfg);
        mem.write(acpi.address(), acpi.bytes());
        MpTable.Builder b = dev.vmm.smp.SmpTables.mp(MpTable.builder(cfg.cpus()), cfg.smp());
        for (var r : chipset.pci().mpRoutes()) b.addPciRoute(r.bus(), r.device(), r.pin() - 1, r.gsi());
        CpuidEntries.Entry leaf1 = cpuid.find(1, 0);
        if (leaf1 != null) b.cpuid(leaf1.eax, leaf1.edx);
        mem.write(X86Layout.MP_TABLE_ADDR, b.build(X86Layout.MP_TABLE_ADDR));
    }

    @Override
    public AcpiTables acpiTables(Chipset chipset, MachineConfig cfg) {
        AcpiTables.Builder b = acpiBuilder(chipset.pci(), cfg.cpus(), cfg.sleep());
        dev.vmm.smp.SmpTables.acpi(b, cfg.smp(), cpuHotplugBase()); // --cpus topology and CPU hot-plug (docs/hotplug.md)
        if (cfg.platform().hpet()) b.hpet(dev.vmm.chipset.timer.Hpet.DEFAULT_BASE, dev.vmm.chipset.timer.Hpet.capabilities());
        return b.build(rsdpAddress());
    }

    /** The ACPI tables of this machine without an HPET (RSDP at {@link #rsdpAddress()}), S3 and S4 offered. */
    public AcpiTables acpiTables(PciSubsystem pci, int cpus) {
        return acpiTables(pci, cpus, MachineConfig.SleepStates.BOTH);
    }

    /** As above with the sleep states of {@code --no-s3}/{@code --no-s4}. */
    public AcpiTables acpiTables(PciSubsystem pci, int cpus, MachineConfig.SleepStates sleep) {
        return acpiBuilder(pci, cpus, sleep).build(rsdpAddress());
    }

    private static AcpiTables.Builder acpiBuilder(PciSubsystem pci, int cpus, MachineConfig.SleepStates sleep) {
        return AcpiTables.builder(cpus)
                .pciRoutes(pci.router().routes())
                .pciBusRange(0, 255)
                .pciIoWindow((int) PciSubsystem.IO_BASE, (int) PciSubsystem.IO_SIZE)
                .pciMmio32Window(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_SIZE)
                .pciMmio64Window(pci.mmio64Base(), PciSubsystem.MMIO64_SIZE)
                .pciExpress(true)
                .ecam(ECAM_BASE, 0, 255)
                .pm(PM_BASE, SCI_IRQ)
                .gpe0(Gpe0Block.ICH9_OFFSET_IN_PM_BLOCK, Gpe0Block.ICH9_LENGTH)
                .pvpanic(Pvpanic.DEFAULT_PORT)
                .sleepStates(sleep.s3(), sleep.s4());
    }
}
