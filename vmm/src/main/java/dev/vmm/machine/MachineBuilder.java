package dev.vmm.machine;

import dev.vmm.boot.BootContext;
import dev.vmm.boot.BootEntry;
import dev.vmm.boot.E820;
import dev.vmm.boot.KernelLoader;
import dev.vmm.boot.X86Layout;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.bus.InterruptLine;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.KvmUnavailableException;
import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;
import dev.vmm.config.ConfigException;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.DeviceKinds;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.OpenContext;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.PendingDevice;
import dev.vmm.devices.VirtioAttach;
import dev.vmm.vcpu.CpuTopology;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuGate;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.vcpu.VcpuSetup;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/**
 * Assembles a {@link Machine} from a {@link MachineConfig} in two steps (Firecracker's builder.rs).
 * {@link #prepare} does everything that needs no KVM — RAM mapped, the kernel recognised and loaded,
 * every device's host side opened — so that what the user gave is checked on any host, before
 * {@code /dev/kvm} is opened. {@link #build(PreparedMachine)} then creates the KVM VM, lets the
 * machine's {@link MachineRecipe} install its chipset, attaches the devices and creates the vCPUs.
 */
public final class MachineBuilder {
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
        return build(prepare(cfg));
    }

    /** The KVM-free half: checks and loads what the user gave; nothing here opens {@code /dev/kvm}. */
    public PreparedMachine prepare(MachineConfig cfg) {
        MachineRecipe recipe = MachineRecipe.named(cfg.machine());
        if (!recipe.hasAhci() && cfg.devices().specs().stream().anyMatch(s -> s instanceof dev.vmm.config.AhciSpec)) {
            throw new ConfigException("AHCI needs --machine q35");
        }
        GuestMemory mem = GuestRam.map(cfg.memoryBytes(), cfg.ram(), recipe.lowRamEnd(cfg.memoryBytes()));
        ConsoleOutput console = null;
        try {
            BootEntry entry = null;
            // Firmware boot: the BIOS image is read and checked here, before KVM (a bad file is the user's).
            dev.vmm.firmware.FirmwareImage firmware = cfg.platform().firmwareBoot() ? dev.vmm.firmware.FirmwareImage.load(cfg.platform().bios()) : null;
            if (cfg.kernel() != null && firmware == null) {
                long lowRamEnd = recipe.lowRamEnd(cfg.memoryBytes());
                E820 e820 = E820.forRam(GuestRam.layout(cfg.memoryBytes(), lowRamEnd));
                entry = KernelLoader.load(new BootContext(mem, e820, lowRamEnd, cfg.kernelName(), cfg.kernel(),
                        cfg.initrd(), cfg.cmdline()), recipe.rsdpAddress());
                VcpuSetup.writeBootTables(mem, entry.mode());
            }
            console = switch (cfg.serial()) {
                case MachineConfig.Serial.Stdio s -> new ConsoleOutput(System.out);
                case MachineConfig.Serial.ToFile f -> new ConsoleOutput(openOutput(f));
                case MachineConfig.Serial.None n -> new ConsoleOutput(OutputStream.nullOutputStream());
            };
            List<PendingDevice> devices = DeviceKinds.openAll(cfg.devices().specs(), new OpenContext(cfg.cpus(), deferDiskLocks));
            return new PreparedMachine(cfg, recipe, mem, entry, console, devices, firmware);
        } catch (RuntimeException e) {
            if (console != null) console.close();
            GuestRam.unmap(mem);
            throw e;
        }
    }

    /** The KVM half: the VM, the chipset, the devices and the vCPUs of a prepared machine. */
    public Machine build(PreparedMachine p) {
        MachineConfig cfg = p.config();
        GuestMemory mem = p.memory();
        Kvm kvm;
        try {
            kvm = Kvm.open();
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        VmFd vm = null;
        DeviceRegistry registry = null;
        int attached = 0;
        try {
            requireCapabilities(kvm);
            vm = kvm.createVm();
            vm.setTssAddr(X86Layout.KVM_TSS_ADDR);
            if (kvm.checkExtension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) vm.setIdentityMapAddr(X86Layout.KVM_IDENTITY_MAP_ADDR);
            vm.createIrqchip();
            vm.createPit2();
            GsiRouting routing = new GsiRouting(vm);
            routing.commit();
            GuestRam.register(vm, mem);

            Bus pio = new Bus("pio");
            Bus mmio = new Bus("mmio");
            ConsoleOutput console = p.console();
            VmFd vmf = vm;
            MachineExit exit = new MachineExit();
            MachineRecipe.Chipset chipset = p.recipe().install(pio, mmio, gsi -> irq(vmf, gsi), cfg, mem, console, exit);
            // --- HPET (on unless --no-hpet): the model on MMIO, its host timer on a TIMER thread. ---
            dev.vmm.timer.PlatformTimers timers = dev.vmm.timer.PlatformTimers.install(cfg.platform().hpet(), mmio, gsi -> irq(vmf, gsi),
                    on -> {
                        dev.vmm.timer.PitLegacy.set(vmf, on);
                        chipset.cmos().hpetLegacyRoute(on); // the HPET's legacy route owns IRQ 8 meanwhile (docs/rtc.md)
                    });

            List<IoThread> ioThreads = new ArrayList<>();
            registry = new DeviceRegistry(chipset.pci(), ioThreads);
            if (deferDiskLocks) registry.deferDiskLocks();
            p.recipe().unsaveableParts().forEach(registry::cannotSaveState);
            timers.register(registry);
            registry.closeLater(new dev.vmm.timer.RtcTimer(chipset.cmos())); // RTC interrupts (docs/rtc.md)
            if (!p.devices().isEmpty()) {
                // One I/O thread per vCPU serves the virtqueues (queue i of each device on thread i mod n).
                for (int i = 0; i < cfg.cpus(); i++) {
                    IoThread t = new IoThread("io-" + i, 256);
                    t.start();
                    ioThreads.add(t);
                }
                // Experimental, off by default: -Dvmm.io.fixedBuffers=true (docs/io-uring-fixed-buffers.md).
                dev.vmm.fixedbuffers.GuestRamFixedBuffers.applyIfEnabled(ioThreads, mem, p.devices(), System.err::println);
            }
            PciPlacement placement = new PciPlacement(chipset.pci().root(), p.recipe().rootBusName());
            registry.addPart(placement); // the buses by name, for QMP device_add at run time
            AttachContext ctx = new AttachContext(placement, new VirtioAttach(vm, mem, routing, ioThreads, placement, registry),
                    registry, mem, ioThreads, cfg.cpus(), console.asStream(), exit);
            registry.addPart(ctx); // issue 15: device_add attaches through the same context (dev.vmm.hotplug)
            if (p.recipe().pciSlots() != null) registry.addPart(p.recipe().pciSlots());
            dev.vmm.firmware.BootOrder bootOrder = new dev.vmm.firmware.BootOrder();
            for (PendingDevice d : p.devices()) {
                java.util.Set<dev.vmm.chipset.pci.PciFunction> before = java.util.Set.copyOf(chipset.pci().root().allFunctions());
                dev.vmm.hotplug.ColdPlug.attach(d, ctx); // issue 15: a device with id= can be device_del'ed
                attached++;
                bootOrder.addPlaced(before, chipset.pci().root().allFunctions(), d.bootSources());
            }
            chipset.pci().assignResources();

            // The --cpu model filtered against this host (PVM hiding of hypercall PV features included).
            dev.vmm.cpu.CpuResolver.Resolved cpu = dev.vmm.cpu.CpuResolver.forHost(cpuSpec,
                    dev.vmm.cpu.KvmHost.read(kvm, kvm.supportedCpuid()));
            warnings.addAll(cpu.warnings());
            CpuidEntries supported = cpu.cpuid();
            if (p.firmware() == null) {
                p.recipe().writeTables(chipset, cfg, mem, supported);
            } else {
                // Firmware boot: SeaBIOS gets the tables and the boot order through fw_cfg (docs/firmware.md).
                registry.closeAfterIoThreads(dev.vmm.firmware.FirmwareBoot.install(vm, pio, mmio, mem, p.firmware(), chipset.pci().root().function(0, 0).device(),
                        dev.vmm.firmware.FirmwareConfig.build(mem, cfg.cpus(), GuestRam.layout(cfg.memoryBytes(), p.recipe().lowRamEnd(cfg.memoryBytes())),
                                !(cfg.serial() instanceof MachineConfig.Serial.None), cfg.platform().boot(), bootOrder,
                                p.recipe().acpiTables(chipset, cfg), cfg.platform().smbios(), java.util.UUID.randomUUID())));
                dev.vmm.firmware.FirmwareConfig.cmos(chipset.cmos(), cfg.platform().boot(), cfg.cpus());
                registry.cannotSaveState("firmware boot (the BIOS area's memory slots follow PAM)");
            }
            List<Vcpu> vcpus = new java.util.concurrent.CopyOnWriteArrayList<>(); // CPU hot-plug adds and removes
            VcpuGate gate = new VcpuGate(cfg.smp().maxCpus());
            BootEntry entry = p.entry();
            dev.vmm.vcpu.VcpuMaker maker = new dev.vmm.vcpu.VcpuMaker(vm, cpu, cfg.smp(), pio, mmio, exit, gate);
            for (int id = 0; id < cfg.cpus(); id++) {
                List<String> refused = new ArrayList<>();
                VcpuFd fd = maker.create(id, refused);
                if (!refused.isEmpty() && id == 0) warnings.add("host refused boot MSRs " + refused);
                if (id == 0 && entry != null) VcpuSetup.setupBootVcpu(fd, entry);
                if (id == 0 && p.firmware() != null) {
                    CpuidEntries.Entry leaf1 = supported.find(1, 0);
                    dev.vmm.vcpu.ResetState.applyTo(fd, leaf1 == null ? 0 : leaf1.eax);   // F000:FFF0, the ROM's reset vector
                }
                vcpus.add(maker.loop(fd));
            }
            String summary = String.format("%s via %s, %d MiB, %d vCPU%s, %s", cfg.kernelName(), entry != null ? entry.protocol() : p.firmware() != null ? "firmware" : "restore",
                    cfg.memoryBytes() >> 20, cfg.cpus(), cfg.cpus() > 1 ? "s" : "", CpuTopology.vendor(supported));
            Machine m = new Machine(kvm, vm, mem, pio, mmio, vcpus, chipset.com1(), console,
                    cfg.serial() instanceof MachineConfig.Serial.Stdio, summary, gate, exit);
            dev.vmm.cpu.CpuState.remember(m, cpuSpecText, cpu); // for the snapshot/migration "cpu" section
            m.attachStateful(cfg, chipset.cmos(), chipset.i8042(), chipset.gpe());
            m.attachPower(chipset.pm()); // ACPI S3/S4 (dev.vmm.power)
            m.attachDevices(registry);
            // --- CPU hot-plug (issue 15): the register block, vCPUs made by the same maker; docs/hotplug.md ---
            if (cfg.smp().hotpluggable()) {
                m.attachCpuHotplug(dev.vmm.cpuhotplug.CpuHotplug.install(pio, p.recipe().cpuHotplugBase(), chipset.gpe(), cfg.smp(),
                        dev.vmm.cpuhotplug.CpuHotplug.typeName(cpuSpec.model()), new dev.vmm.cpuhotplug.KvmVcpuFactory(maker, m)));
            }
            // Snapshots and migration carry the topology and the hot-plugged vCPUs (dev.vmm.snapshot.devices.HotplugState).
            return m;
        } catch (RuntimeException e) {
            // Devices attached hand their resources to the registry; the others still hold theirs.
            if (registry != null) registry.close();
            for (int i = attached; i < p.devices().size(); i++) p.devices().get(i).close();
            p.console().close();
            if (vm != null) vm.close();
            kvm.close();
            throw e;
        }
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
            throw new ConfigException("--serial file:" + f.path() + ": cannot open: " + e.getMessage());
        }
    }
}
