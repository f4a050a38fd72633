package dev.vmm.machine;

import dev.vmm.boot.E820;
import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pci.PciDevice;
import dev.vmm.chipset.pci.PciFunction;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code vmm run --dry-run}: the machine a prepared configuration would become, without KVM. The
 * recipe installs its chipset on scratch buses and each device takes a PCI slot exactly as it would
 * (placement depends only on the order of the devices), then resources are assigned as firmware
 * would; what is printed is the machine, its memory map, the kernel's entry and every device with
 * its PCI address.
 */
public final class DryRun {
    private DryRun() {}

    /** A PCI function that only holds a place: the device's own model is created when KVM exists. */
    private static final class Placeholder implements PciDevice {
        private final PciConfigSpace config = PciConfigSpace.endpoint(0x1b36, 0x0000, 0xFF0000, 0);
        private final String description;
        PciFunction function;

        Placeholder(String description) {
            this.description = description;
        }

        @Override public PciConfigSpace configSpace() { return config; }
        @Override public long barRead(int bar, long offset, int size) { return 0; }
        @Override public void barWrite(int bar, long offset, int size, long value) { }
        @Override public void attached(PciFunction f) { function = f; }
        @Override public String name() { return description; }
    }

    /**
     * The firmware boot order of a prepared machine: its devices placed on scratch buses exactly as
     * the build places them, and the paths of their boot sources. No KVM.
     */
    public static dev.vmm.firmware.BootOrder bootOrder(PreparedMachine p) {
        MachineRecipe.Chipset chipset = p.recipe().install(new Bus("pio"), new Bus("mmio"), gsi -> level -> { }, p.config(),
                p.memory(), p.console(), exit -> { });
        PciPlacement placement = new PciPlacement(chipset.pci().root(), p.recipe().rootBusName());
        dev.vmm.firmware.BootOrder order = new dev.vmm.firmware.BootOrder().strict(p.config().platform().boot().strict());
        for (PendingDevice d : p.devices()) {
            Placeholder ph = new Placeholder(d.describe());
            d.place(placement, ph);
            for (dev.vmm.firmware.BootSource b : d.bootSources()) order.add(ph.function, b);
        }
        return order;
    }

    // The text is built by appending rather than String.format: interpreted (a dry run runs with
    // -Xint), java.util.Formatter was ~9 % of a dry run's CPU (#19). The output is unchanged.
    private static final String NL = System.lineSeparator();

    /** What {@code %#0<width>x} prints ({@code %#x} for width 0): 0x and the digits, zero-padded to width characters. */
    static String hex(long v, int width) {
        String digits = Long.toHexString(v);
        return "0x" + "0".repeat(Math.max(0, width - 2 - digits.length())) + digits;
    }

    public static String describe(PreparedMachine p, String cpu) {
        MachineConfig cfg = p.config();
        StringBuilder sb = new StringBuilder();
        sb.append("machine: ").append(p.recipe().name()).append('\n');
        sb.append("cpu: ").append(cpu).append(", ").append(cfg.cpus()).append(" vCPU").append(cfg.cpus() > 1 ? "s" : "").append(NL);
        if (cfg.smp().hotpluggable() || cfg.smp().sockets() > 1 || cfg.smp().threads() > 1) {
            sb.append(cfg.smp().describe()).append(System.lineSeparator()); // --cpus N,maxcpus=M,... (docs/hotplug.md)
        }
        sb.append("memory: ").append(cfg.memoryBytes() >> 20).append(" MiB").append(NL);
        List<E820.Entry> map = new ArrayList<>(E820.forRam(GuestRam.layout(cfg.memoryBytes(), p.recipe().lowRamEnd(cfg.memoryBytes()))).entries());
        map.add(new E820.Entry(X86Layout.MMIO_HOLE_START, X86Layout.MMIO_HOLE_END - X86Layout.MMIO_HOLE_START, -1));
        if (p.recipe() instanceof Q35Machine) map.add(new E820.Entry(Q35Machine.ECAM_BASE, Q35Machine.ECAM_SIZE, -2));
        map.sort(java.util.Comparator.comparingLong(E820.Entry::addr));
        for (E820.Entry e : map) {
            sb.append("  ").append(hex(e.addr(), 14)).append('-').append(hex(e.addr() + e.size() - 1, 14)).append(' ')
                    .append(e.type() == E820.RAM ? "ram" : e.type() == -1 ? "pci hole (32-bit BARs, IOAPIC, LAPIC)"
                    : e.type() == -2 ? "pci express ecam (MCFG, buses 0-255)" : "reserved").append(NL);
        }
        if (p.entry() != null) {
            sb.append("kernel: ").append(cfg.kernelName()).append(" via ").append(p.entry().protocol()).append(", entry ")
                    .append(hex(p.entry().rip(), 0)).append(NL);
            if (cfg.initrd() != null) sb.append("initrd: ").append(cfg.initrd().length >> 10).append(" KiB").append(NL);
            sb.append("cmdline: ").append(cfg.cmdline()).append('\n');
        } else {
            sb.append("kernel: none (").append(cfg.kernelName()).append(")\n");
        }
        sb.append("serial: ").append(switch (cfg.serial()) {
            case MachineConfig.Serial.Stdio s -> "stdio";
            case MachineConfig.Serial.ToFile f -> "file " + f.path();
            case MachineConfig.Serial.None n -> "none";
        }).append('\n');

        MachineRecipe.Chipset chipset = p.recipe().install(new Bus("pio"), new Bus("mmio"), gsi -> level -> { }, cfg,
                p.memory(), p.console(), exit -> { });
        PciPlacement placement = new PciPlacement(chipset.pci().root(), p.recipe().rootBusName());
        java.util.Map<dev.vmm.chipset.pci.PciDevice, String> names = new java.util.IdentityHashMap<>();
        List<String> usbNames = new ArrayList<>();
        for (PendingDevice d : p.devices()) {
            Placeholder ph = new Placeholder(d.describe() + (d.qdevId() != null ? " id=" + d.qdevId() : "")); // id=: device_del (issue 15)
            d.place(placement, ph);
            PendingDevice inner = d instanceof dev.vmm.devices.pcie.PlacedDevice pd ? pd.device() : d;
            if (inner instanceof dev.vmm.devices.pcie.RootPortAttach r) names.put(r.port().bridge(), r.describe());
            else if (ph.function == null) usbNames.add(ph.name()); // placed nowhere on PCI: a USB device
            else names.put(ph, ph.name());
        }
        chipset.pci().assignResources();
        sb.append(cfg.platform().hpet() ? "hpet: " + hex(dev.vmm.chipset.timer.Hpet.DEFAULT_BASE, 0) + ", 3 timers, legacy replacement to GSI 2/8" + NL
                : "hpet: off (--no-hpet)\n");
        if (p.firmware() != null) {
            sb.append("firmware: ").append(p.firmware().path()).append(", ").append(p.firmware().size() >> 10).append(" KiB at ")
                    .append(hex(p.firmware().base(), 0)).append(" (last 128 KiB also at 0xe0000), fw_cfg at 0x510").append(NL);
            dev.vmm.firmware.BootOptions b = cfg.platform().boot();
            sb.append("boot: order=").append(b.order()).append(b.menu() ? ", menu" : "")
                    .append(", reboot-timeout=").append(b.rebootTimeout()).append('\n');
            for (String path : bootOrder(p).paths()) sb.append("  bootorder ").append(path).append('\n');
        }
        sb.append("pci: (").append(p.recipe().rootBusName()).append(")\n");
        sb.append(dev.vmm.devices.pcie.PciTreeText.of(chipset.pci().root(), names));
        // Devices that are not PCI functions (USB devices, on the xHCI controller's root hub).
        if (!usbNames.isEmpty()) {
            sb.append("usb:\n");
            usbNames.forEach(name -> sb.append("  ").append(name).append('\n'));
        }
        return sb.toString();
    }
}
