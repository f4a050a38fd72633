package dev.vmm.machine;

import dev.vmm.boot.BootContext;
import dev.vmm.boot.BootEntry;
import dev.vmm.boot.E820;
import dev.vmm.boot.KernelLoader;
import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.BusDevice;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.chipset.acpi.AcpiPm;
import dev.vmm.chipset.acpi.AcpiTables;
import dev.vmm.chipset.firmware.MpTable;
import dev.vmm.chipset.legacy.CmosRtc;
import dev.vmm.chipset.legacy.DebugExit;
import dev.vmm.chipset.legacy.I8042;
import dev.vmm.chipset.legacy.Pvpanic;
import dev.vmm.chipset.legacy.ResetControl;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.KvmUnavailableException;
import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.CpuTopology;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuGate;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.vcpu.VcpuSetup;
import dev.vmm.vcpu.VmExit;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/**
 * Assembles a {@link Machine} from a {@link MachineConfig}: the only place that knows which
 * devices a machine has, where they live and which interrupts they use (Firecracker's builder.rs).
 */
public final class MachineBuilder {
    public static final int COM1_PORT = 0x3f8, COM1_IRQ = 4, POST_PORT = 0x80, I8042_KBD_IRQ = 1, I8042_AUX_IRQ = 12,
            RTC_IRQ = 8, SCI_IRQ = 9;

    private final List<String> warnings = new ArrayList<>();

    /** Things worth telling the user that did not stop the build (refused MSRs, missing capabilities). */
    public List<String> warnings() { return warnings; }

    private boolean deferDiskLocks;

    /** For an incoming migration: disks are opened without their locks, taken when the machine starts. */
    public MachineBuilder deferDiskLocks(boolean defer) {
        this.deferDiskLocks = defer;
        return this;
    }

    // --- CPU model (issue 14): the --cpu spec; host (today's behaviour) unless set. ---
    private dev.vmm.cpu.CpuSpec cpuSpec = dev.vmm.cpu.CpuSpec.HOST;
    private String cpuSpecText = dev.vmm.cpu.CpuSpec.DEFAULT;

    public MachineBuilder cpu(String spec) {
        this.cpuSpec = dev.vmm.cpu.CpuSpec.parse(spec);
        this.cpuSpecText = spec;
        return this;
    }

    public Machine build(MachineConfig cfg) {
        Kvm kvm = Kvm.open();
        VmFd vm = null;
        try {
            requireCapabilities(kvm);
            vm = kvm.createVm();
            vm.setTssAddr(X86Layout.KVM_TSS_ADDR);
            if (kvm.checkExtension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) vm.setIdentityMapAddr(X86Layout.KVM_IDENTITY_MAP_ADDR);
            vm.createIrqchip();
            vm.createPit2();
            GsiRouting routing = new GsiRouting(vm);
            routing.commit();
            GuestMemory mem = GuestRam.allocate(vm, cfg.memoryBytes(), cfg.ram());

            Bus pio = new Bus("pio");
            Bus mmio = new Bus("mmio");
            Machine[] self = new Machine[1];
            ConsoleOutput console = switch (cfg.serial()) {
                case MachineConfig.Serial.Stdio s -> new ConsoleOutput(System.out);
                case MachineConfig.Serial.ToFile f -> new ConsoleOutput(openOutput(f));
                case MachineConfig.Serial.None n -> new ConsoleOutput(OutputStream.nullOutputStream());
            };
            VmFd vmf = vm;
            Uart16550 com1 = new Uart16550(irq(vmf, COM1_IRQ), console);
            pio.register(COM1_PORT, Uart16550.SIZE, com1);
            Runnable reset = () -> self[0].vmExit(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null));
            I8042 i8042 = new I8042(irq(vmf, I8042_KBD_IRQ), irq(vmf, I8042_AUX_IRQ), reset);
            pio.register(I8042.BASE, I8042.SIZE, i8042);
            PciSubsystem pci = new PciSubsystem(pio, mmio, gsi -> irq(vmf, gsi), mem.end(), new ResetControl(reset));
            long below4g = Math.min(cfg.memoryBytes(), X86Layout.MMIO_HOLE_START);
            CmosRtc cmos = new CmosRtc(java.time.Clock.systemUTC(), irq(vmf, RTC_IRQ), below4g, cfg.memoryBytes() - below4g);
            pio.register(CmosRtc.BASE, CmosRtc.SIZE, cmos);
            pio.register(DebugExit.DEFAULT_PORT, DebugExit.SIZE, new DebugExit(v -> self[0].vmExit(VmExit.guestExit(v))));
            pio.register(Pvpanic.DEFAULT_PORT, Pvpanic.SIZE, new Pvpanic(ev -> self[0].vmExit(
                    VmExit.failure("guest kernel panicked (pvpanic event 0x" + Integer.toHexString(ev) + ")", null))));
            pio.register(POST_PORT, 1, NULL_DEVICE);
            pio.register(AcpiPm.DEFAULT_BASE, AcpiPm.SIZE, new AcpiPm(irq(vmf, SCI_IRQ),
                    () -> self[0].vmExit(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off (ACPI S5)", null))));

            List<IoThread> ioThreads = new ArrayList<>();
            VirtioWiring virtio = new VirtioWiring(vm, mem, pci, routing, ioThreads);
            if (deferDiskLocks) virtio.deferDiskLocks();
            if (hasVirtio(cfg)) {
                // One I/O thread per vCPU serves the virtqueues (queue i of each device on thread i mod n).
                for (int i = 0; i < cfg.cpus(); i++) {
                    IoThread t = new IoThread("io-" + i, 256);
                    t.start();
                    ioThreads.add(t);
                }
                VirtioDeviceFactory.create(cfg, virtio, ioThreads, console.asStream());
            }
            pci.assignResources();
            AcpiTables acpi = AcpiTables.builder(cfg.cpus())
                    .pciRoutes(pci.router().routes())
                    .pciBusRange(0, 255)
                    .pciIoWindow((int) PciSubsystem.IO_BASE, (int) PciSubsystem.IO_SIZE)
                    .pciMmio32Window(PciSubsystem.MMIO32_BASE, PciSubsystem.MMIO32_SIZE)
                    .pciMmio64Window(pci.mmio64Base(), PciSubsystem.MMIO64_SIZE)
                    .pm(AcpiPm.DEFAULT_BASE, SCI_IRQ)
                    .pvpanic(Pvpanic.DEFAULT_PORT)
                    .build(X86Layout.BIOS_AREA_START);
            mem.write(acpi.address(), acpi.bytes());
            BootEntry entry = null;
            if (cfg.kernel() != null) {
                E820 e820 = E820.forRam(GuestRam.layout(cfg.memoryBytes()));
                long lowRamEnd = Math.min(cfg.memoryBytes(), X86Layout.MMIO_HOLE_START);
                entry = KernelLoader.load(new BootContext(mem, e820, lowRamEnd, cfg.kernelName(), cfg.kernel(),
                        cfg.initrd(), cfg.cmdline()), acpi.rsdpAddress());
                VcpuSetup.writeBootTables(mem, entry.mode());
            }

            // The --cpu model filtered against this host (PVM hiding of hypercall PV features included).
            dev.vmm.cpu.CpuResolver.Resolved cpu = dev.vmm.cpu.CpuResolver.forHost(cpuSpec,
                    dev.vmm.cpu.KvmHost.read(kvm, kvm.supportedCpuid()));
            warnings.addAll(cpu.warnings());
            CpuidEntries supported = cpu.cpuid();
            writeMpTable(mem, cfg.cpus(), supported, pci);
            List<Vcpu> vcpus = new ArrayList<>();
            VcpuGate gate = new VcpuGate(cfg.cpus());
            for (int id = 0; id < cfg.cpus(); id++) {
                VcpuFd fd = vm.createVcpu(id);
                dev.vmm.cpu.KvmHost.enableOn(fd, cpu);
                fd.setCpuid(CpuTopology.forVcpu(supported, id, cfg.cpus(), true));
                List<String> refused = VcpuSetup.setupMsrs(fd);
                if (!refused.isEmpty() && id == 0) warnings.add("host refused boot MSRs " + refused);
                VcpuSetup.setupFpu(fd);
                VcpuSetup.setupLapic(fd);
                if (id == 0 && entry != null) VcpuSetup.setupBootVcpu(fd, entry);
                vcpus.add(new Vcpu(fd, pio, mmio, e -> self[0].vmExit(e), gate));
            }
            String summary = String.format("%s via %s, %d MiB, %d vCPU%s, %s", cfg.kernelName(), entry == null ? "restore" : entry.protocol(),
                    cfg.memoryBytes() >> 20, cfg.cpus(), cfg.cpus() > 1 ? "s" : "", CpuTopology.vendor(supported));
            self[0] = new Machine(kvm, vm, mem, pio, mmio, vcpus, com1, console,
                    cfg.serial() instanceof MachineConfig.Serial.Stdio, summary, gate);
            dev.vmm.cpu.CpuState.remember(self[0], cpuSpecText, cpu); // for the snapshot/migration "cpu" section
            self[0].attachStateful(cfg, cmos, i8042);
            self[0].attachVirtio(virtio);
            return self[0];
        } catch (RuntimeException e) {
            if (vm != null) vm.close();
            kvm.close();
            throw e;
        }
    }

    /** The MP table: one processor per vCPU (APIC id = vCPU id), the IOAPIC, ISA interrupt routing. */
    private static void writeMpTable(GuestMemory mem, int cpus, CpuidEntries cpuid, PciSubsystem pci) {
        MpTable.Builder b = MpTable.builder(cpus);
        for (var r : pci.mpRoutes()) b.addPciRoute(r.bus(), r.device(), r.pin() - 1, r.gsi()); // MP table pins are 0-based (INTA = 0)
        CpuidEntries.Entry leaf1 = cpuid.find(1, 0);
        if (leaf1 != null) b.cpuSignature(leaf1.eax).cpuFeatures(leaf1.edx);
        mem.write(X86Layout.MP_TABLE_ADDR, b.build(X86Layout.MP_TABLE_ADDR));
    }

    private static boolean hasVirtio(MachineConfig cfg) {
        return cfg.devices().any();
    }

    private static void requireCapabilities(Kvm kvm) {
        int[] caps = {KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR, KVM_CAP_PIT2, KVM_CAP_IRQFD,
                KVM_CAP_IOEVENTFD, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_EXT_CPUID};
        String[] names = {"IRQCHIP", "USER_MEMORY", "SET_TSS_ADDR", "PIT2", "IRQFD", "IOEVENTFD", "IMMEDIATE_EXIT", "EXT_CPUID"};
        for (int i = 0; i < caps.length; i++) {
            if (kvm.checkExtension(caps[i]) <= 0) {
                throw new KvmUnavailableException("this host's KVM lacks KVM_CAP_" + names[i] + ", which vmm needs", null);
            }
        }
    }

    /** An ISA interrupt line driven through the in-kernel PIC/IOAPIC. */
    private static InterruptLine irq(VmFd vm, int gsi) {
        return level -> vm.irqLine(gsi, level);
    }

    private static OutputStream openOutput(MachineConfig.Serial.ToFile f) {
        try {
            return new FileOutputStream(f.path().toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open serial output " + f.path() + ": " + e.getMessage(), e);
        }
    }

    /** Swallows writes and reads as zero (the POST diagnostic port, and other ports guests poke for delays). */
    static final BusDevice NULL_DEVICE = new BusDevice() {
        @Override public long read(long offset, int size) { return 0; }
        @Override public void write(long offset, int size, long value) { }
    };
}
