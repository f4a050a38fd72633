package dev.vmm.cli;

import dev.vmm.boot.BootException;
import dev.vmm.machine.GuestRam;
import dev.vmm.machine.Machine;
import dev.vmm.machine.MachineBuilder;
import dev.vmm.machine.MachineConfig;
import dev.vmm.vcpu.VmExit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code vmm run}: build a machine from options, boot it, and exit with the guest's status. */
@Command(name = "run", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Boot a guest. Without --kernel, boots the built-in demo guest.")
public final class RunCommand implements Callable<Integer> {
    static final String DEMO_RESOURCE = "/dev/vmm/guests/demo.pvh.elf";

    @Option(names = {"-M", "--machine"}, paramLabel = "NAME", defaultValue = MachineConfig.DEFAULT_MACHINE,
            description = "The machine: pc or q35 (q35: direct kernel boot only for now; default: ${DEFAULT-VALUE}).")
    String machine;

    @Option(names = "--kernel", paramLabel = "FILE",
            description = "Kernel: Linux bzImage or vmlinux (PVH or 64-bit), multiboot or PVH ELF.")
    Path kernel;

    @Option(names = "--initrd", paramLabel = "FILE", description = "Initial ramdisk (initrd/initramfs, or a module for PVH/multiboot).")
    Path initrd;

    @Option(names = "--cmdline", paramLabel = "STR", description = "Kernel command line (default: ${DEFAULT-VALUE}).",
            defaultValue = "console=ttyS0")
    String cmdline;

    @Option(names = {"-m", "--memory"}, paramLabel = "SIZE[,thp=off][,prealloc=on][,share=on]", converter = MemoryConverter.class,
            defaultValue = "256M", description = "Guest RAM, e.g. 256M, 4G (default: ${DEFAULT-VALUE}); transparent huge pages "
                    + "unless thp=off, prealloc=on allocates it all at start, share=on maps a shared memfd (docs/balloon.md).")
    dev.vmm.config.MemorySpec memory;

    @Option(names = "--cpus", paramLabel = "N[,maxcpus=M][,sockets=S,cores=C,threads=T]", defaultValue = "1",
            description = "vCPUs at boot (default: ${DEFAULT-VALUE}); with maxcpus=M, M-N more can be plugged over QMP "
                    + "(QEMU's -smp; docs/hotplug.md).")
    String cpus;

    @Option(names = "--serial", paramLabel = "stdio|file:PATH|none", converter = SerialConverter.class,
            defaultValue = "stdio", description = "Where COM1 goes (default: ${DEFAULT-VALUE}).")
    MachineConfig.Serial serial;

    @Option(names = "--hugepages", description = "Back guest RAM with huge pages.")
    boolean hugepages;

    @Option(names = "--shared-memory", description = "Map guest RAM MAP_SHARED (for vhost-user and similar).")
    boolean sharedMemory;

    @Option(names = "--reboot", description = "Restart the machine when the guest resets, instead of exiting.")
    boolean reboot;

    @Option(names = "--stats", description = "Print exit statistics when the VM stops.")
    boolean stats;

    @Option(names = "--disk", paramLabel = "path=FILE[,...]",
            description = "A virtio-blk disk (repeatable): path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on]"
                    + "[,discard=unmap][,queues=N][,cache=none|writeback|writethrough][,serial=ID]"
                    + "[,iops=N][,bps=N][,iops_rd=N][,iops_wr=N][,bps_rd=N][,bps_wr=N][,burst=SECONDS][,id=NAME]"
                    + "; id names the drive for QMP (default virtio0, virtio1, ...).")
    java.util.List<String> disks = new java.util.ArrayList<>();

    @Option(names = "--net", paramLabel = "tap=NAME[,...]",
            description = "A multiqueue virtio-net NIC on a tap device (repeatable): tap=NAME[,queues=N][,mac=MAC][,bridge=BR][,mtu=N]; "
                    + "queues default to the vCPU count, one I/O thread and MSI-X vector per queue.")
    java.util.List<String> nets = new java.util.ArrayList<>();

    @Option(names = "--scsi", paramLabel = "path=FILE[,...]",
            description = "A disk on the (one) multiqueue virtio-scsi controller, LUN = order given (repeatable): "
                    + "path=FILE (or disk=FILE)[,format=..][,readonly=on][,queues=N][,serial=ID][,block_size=512|4096][,discard=unmap][,cache=writeback|none|writethrough][,aio=io_uring|threads].")
    java.util.List<String> scsi = new java.util.ArrayList<>();

    // issue 15: more SCSI controllers, as libvirt's -device virtio-scsi-pci,id= (dev.vmm.config.scsi, docs/hotplug.md).
    @Option(names = "--scsi-controller", paramLabel = "id=NAME[,...]",
            description = "A virtio-scsi controller with an id (repeatable): id=NAME[,queues=N][,bus=B][,addr=A]; its bus is NAME.0. "
                    + "Disks go on it with --scsi ...,controller=NAME[,lun=N][,scsi-id=0][,id=ID] (lun=/id= also on the --scsi controller).")
    java.util.List<String> scsiControllers = new java.util.ArrayList<>();

    // --- PCIe topology (issue 15): root ports; bus=/addr= on the PCI device options (dev.vmm.config.pci). ---
    @Option(names = "--pcie-root-port", paramLabel = "id=NAME[,...]",
            description = "A PCIe root port of --machine q35 (repeatable): id=NAME[,chassis=N][,slot=N][,port=N][,addr=SLOT[.FN]]; "
                    + "bus=NAME on --disk/--net/--scsi/--rng puts that device in the port's slot as a PCIe endpoint "
                    + "(addr=SLOT[.FN] on those options chooses the slot on the root bus).")
    java.util.List<String> rootPorts = new java.util.ArrayList<>();

    // --- AHCI (q35): --ahci and --cdrom share the controller's ports in command-line order. ---
    @Option(names = "--ahci", paramLabel = "path=FILE[,...]", converter = AhciArgument.Disk.class,
            description = "A disk on the ICH9 AHCI controller of --machine q35, next port (repeatable; 6 ports with --cdrom): "
                    + "path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on][,discard=unmap][,cache=writeback][,bootindex=N].")
    java.util.List<AhciArgument> ahciDisks = new java.util.ArrayList<>();

    @Option(names = "--cdrom", paramLabel = "FILE", converter = AhciArgument.Cdrom.class,
            description = "An ATAPI CD-ROM (read-only) with the image FILE on the AHCI controller of --machine q35, next port (repeatable).")
    java.util.List<AhciArgument> cdroms = new java.util.ArrayList<>();

    // --- firmware boot and platform (docs/firmware.md) ---
    @Option(names = "--bios", paramLabel = "FILE",
            description = "Boot this BIOS image (mapped below 4 GiB) instead of a kernel; without --kernel, a bootable drive "
                    + "(--disk, --ahci, --cdrom, --usb-storage) boots through " + "/usr/share/seabios/bios-256k.bin by default.")
    Path bios;

    @Option(names = "--boot", paramLabel = "[order=cdn][,menu=on][,strict=on][,reboot-timeout=MS][,splash-time=MS]",
            description = "Firmware boot order and menu (QEMU's -boot); per device: bootindex=N on --disk, --net, --ahci, --cdrom path=FILE.")
    String boot;

    @Option(names = "--no-hpet", description = "No HPET (QEMU's -machine hpet=off).")
    boolean noHpet;

    @Option(names = "--smbios", paramLabel = "type=N,KEY=VALUE...",
            description = "SMBIOS fields for firmware boot (QEMU's -smbios; repeatable): type=0/1/3/4/17.")
    java.util.List<String> smbios = new java.util.ArrayList<>();

    @Option(names = "--rng", paramLabel = "[source=PATH][,rate=BYTES/PERIOD]", arity = "0..1", fallbackValue = "",
            description = "A virtio-rng device fed from the host (default /dev/urandom).")
    String rng;

    @Option(names = "--balloon", paramLabel = "[deflate-on-oom=on][,free-page-reporting=on][,id=NAME]", arity = "0..1",
            fallbackValue = "", description = "A virtio-balloon device (QMP balloon, query-balloon; docs/balloon.md).")
    String balloon;

    // --- USB devices (issue 20): they plug into the xHCI controller that --usb adds. ---
    @Option(names = "--usb-storage", paramLabel = "path=FILE[,format=F][,readonly=on][,bootindex=N][,id=ID]",
            description = "A USB mass storage device (Bulk-Only, SuperSpeed) on the image (repeatable; needs --usb).")
    java.util.List<String> usbStorage = new java.util.ArrayList<>();

    // picocli reads fallbackValue "" as "none" and adds nothing to a list: a bare --usb-tablet needs a non-empty one.
    @Option(names = "--usb-tablet", paramLabel = "[id=ID]", arity = "0..1", fallbackValue = dev.vmm.config.UsbDeviceSpec.NO_PROPERTIES,
            description = "A USB tablet: absolute pointer for input-send-event (repeatable; needs --usb).")
    java.util.List<String> usbTablets = new java.util.ArrayList<>();

    @Option(names = "--usb-kbd", paramLabel = "[id=ID]", arity = "0..1", fallbackValue = dev.vmm.config.UsbDeviceSpec.NO_PROPERTIES,
            description = "A USB boot keyboard (repeatable; needs --usb).")
    java.util.List<String> usbKeyboards = new java.util.ArrayList<>();

    @Option(names = "--usb-mouse", paramLabel = "[id=ID]", arity = "0..1", fallbackValue = dev.vmm.config.UsbDeviceSpec.NO_PROPERTIES,
            description = "A USB mouse: relative pointer for input-send-event rel events (repeatable; needs --usb).")
    java.util.List<String> usbMice = new java.util.ArrayList<>();

    @Option(names = "--pvpanic", paramLabel = "pci",
            description = "A pvpanic-pci device (1b36:0011) through which the guest reports a panic (the ISA pvpanic at 0x505 is always there).")
    String pvpanic;

    @Option(names = "--usb", arity = "0..1", fallbackValue = "",
            description = "A USB 3 host controller (qemu-xhci, 1b36:000d: 4 USB 3 + 4 USB 2 ports) for USB devices.")
    String usb;

    @Option(names = "--console-port", paramLabel = "name=N,socket=PATH|file=PATH",
            description = "A virtio-console port (repeatable); more can be added while the guest runs (QMP).")
    java.util.List<String> consolePorts = new java.util.ArrayList<>();

    @Option(names = "--qmp", paramLabel = "unix:PATH",
            description = "QMP control socket (QEMU-compatible protocol) at a UNIX socket path.")
    String qmp;

    @Option(names = "--restore", paramLabel = "FILE",
            description = "Start from a snapshot (saved with the QMP command x-vmm-snapshot-save or 'vmm snapshot save') instead of booting.")
    Path restore;

    @Option(names = "--incoming", paramLabel = "tcp:HOST:PORT|unix:PATH|defer",
            description = "Wait for a live migration instead of booting: RAM and state come from the stream "
                    + "(give the same --memory and --cpus as the source); 'defer': wait for QMP migrate-incoming (needs --qmp).")
    String incoming;

    @Option(names = {"-S", "--paused"}, description = "Start with the vCPUs paused until 'cont' over QMP (QEMU's -S); "
            + "with --incoming, the migrated guest waits for 'cont'.")
    boolean startPaused;

    @Option(names = "--cpu", paramLabel = "MODEL[,FEATURE=on|off][,+F][,-F][,enforce]", defaultValue = dev.vmm.cpu.CpuSpec.DEFAULT,
            description = "CPU model (QEMU's names, e.g. Haswell, EPYC, Opteron_G5) and features, KVM PV and Hyper-V (hv-*) flags "
                    + "(default: ${DEFAULT-VALUE}, the host's CPUID); 'help' lists the models.")
    String cpu;

    @Option(names = "--dry-run", description = "Check everything (kernel, images, taps, sockets, options) without KVM, "
            + "print the machine that would be built — memory map, kernel entry, CPU, devices with their PCI addresses — and exit 0.")
    boolean dryRun;

    // lifecycle options (docs/lifecycle.md)
    @Option(names = "--no-shutdown", description = "When the guest powers off, resets or panics, stay in run state "
            + "'shutdown' so that QMP can still query the machine; 'quit' ends the process (QEMU's -no-shutdown; needs --qmp).")
    boolean noShutdown;

    @Option(names = "--on-panic", paramLabel = "exit|pause|dump=PATH", defaultValue = "exit",
            description = "What a guest panic (pvpanic) does: exit with status 125 (default), pause the guest "
                    + "(state guest-panicked, 'cont' or 'quit' over QMP), or write an ELF core to PATH and exit.")
    String onPanic;

    @Option(names = "--no-s3", description = "Do not offer ACPI S3 (suspend to RAM) to the guest (QEMU's disable_s3).")
    boolean noS3;

    @Option(names = "--no-s4", description = "Do not offer ACPI S4 (suspend to disk) to the guest (QEMU's disable_s4).")
    boolean noS4;

    @Option(names = "--trace-startup", description = "Print on stderr where the start-up time went, phase by phase, "
            + "up to the guest's first serial byte (or the end of --dry-run).")
    boolean traceStartup; // read by Main before parsing (dev.vmm.startup.StartupTrace)

    @Option(names = {"-q", "--quiet"}, description = "Do not print the boot and exit lines on stderr.")
    boolean quiet;

    @picocli.CommandLine.Mixin
    dev.vmm.cli.sandbox.SandboxOption sandbox = dev.vmm.cli.sandbox.SandboxOption.defaultOff();
    @picocli.CommandLine.Mixin
    dev.vmm.cli.sandbox.PrivilegeOption privileges = new dev.vmm.cli.sandbox.PrivilegeOption();

    private final PrintStream err = System.err;

    /** This command with every option at its default (what {@code vmm} with no arguments runs). */
    RunCommand withDefaults() {
        picocli.CommandLine cl = new picocli.CommandLine(this);
        cl.parseArgs();
        return this;
    }

    @Override
    public Integer call() {
        if (dev.vmm.cpu.CpuSpec.isHelp(cpu)) {
            System.out.print(dev.vmm.cpu.CpuSpec.help());
            return 0;
        }
        dev.vmm.startup.StartupTrace.mark("options parsed");
        dev.vmm.cpu.CpuSpec.parse(cpu); // a bad --cpu is status 2 before anything else happens
        MachineConfig cfg = config();
        dev.vmm.startup.StartupTrace.mark("configuration read (kernel, initrd, device options)");
        dev.vmm.lifecycle.PanicPolicy panicPolicy;
        try {
            panicPolicy = dev.vmm.lifecycle.PanicPolicy.parse(onPanic);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (noShutdown && qmp == null) throw new UsageException("--no-shutdown needs --qmp (nothing could query or quit the machine)");
        if (dryRun) {
            if (restore != null || incoming != null) throw new UsageException("--dry-run checks a machine to boot, not --restore or --incoming");
            try (dev.vmm.machine.PreparedMachine p = new MachineBuilder().cpu(cpu).prepare(cfg)) {
                dev.vmm.startup.StartupTrace.mark("prepared (RAM mapped, kernel loaded, images and host devices opened)");
                System.out.print(dev.vmm.machine.DryRun.describe(p, cpu));
            }
            dev.vmm.startup.StartupTrace.finish("machine described (dry run)", err);
            return 0;
        }
        dev.vmm.control.incoming.IncomingMigration incomingMigration = incomingMigration();
        int boots = 0;
        while (true) {
            boolean firstBoot = boots == 0;
            MachineBuilder builder = new MachineBuilder().deferDiskLocks(incoming != null && firstBoot).cpu(cpu);
            try (Machine m = restore != null && boots == 0 ? restoreSnapshot(cfg) : builder.build(cfg)) {
                dev.vmm.startup.StartupTrace.mark("machine built (prepare + KVM VM, chipset, devices, vCPUs)");
                if (firstBoot) privileges.drop(); // --chroot, --run-as: everything privileged is open now
                sandbox.enter(); // --sandbox on: everything privileged (/dev/kvm, images, taps) is open now
                m.lifecycle().panicPolicy(panicPolicy);
                m.lifecycle().noShutdown(noShutdown);
                if (startPaused && firstBoot) m.startPaused(); // before an incoming migration: QMP stop/cont may change it then
                dev.vmm.control.QmpServer control = null;
                if (incoming != null && boots == 0) {
                    m.lifecycle().incomingStarted();
                    if (incomingMigration.deferred()) control = startQmp(m, incomingMigration); // migrate-incoming comes over QMP
                    if (!receiveMigration(m, incomingMigration)) {
                        if (!quiet) err.println("vmm: quit while waiting for the incoming migration");
                        if (control != null) control.close();
                        return 0;
                    }
                }
                if (!quiet && boots++ == 0) {
                    err.println("vmm: booting " + m.bootSummary());
                    builder.warnings().forEach(w -> err.println("vmm: warning: " + w));
                }
                if (control == null) control = startQmp(m, incomingMigration);
                Thread hook = new Thread(m::stopBySignal);
                Runtime.getRuntime().addShutdownHook(hook);
                dev.vmm.startup.StartupTrace.mark("QMP and signal handling ready, vCPUs starting");
                VmExit exit = m.run();
                dev.vmm.startup.StartupTrace.finish("guest stopped before its first serial byte", err);
                if (exit.kind() == VmExit.Kind.GUEST_PANIC && panicPolicy.kind() == dev.vmm.lifecycle.PanicPolicy.Kind.DUMP) {
                    dev.vmm.dump.MachineDump.write(m, panicPolicy.dumpPath(), err);
                }
                if (control != null && m.lifecycle().state() == dev.vmm.lifecycle.RunState.SHUTDOWN) {
                    // --no-shutdown: still answering QMP until 'quit' or a signal (the hook stays for that)
                    if (!quiet) err.println("vmm: " + exit.reason() + "; in state shutdown until QMP 'quit' (--no-shutdown)");
                    m.lifecycle().awaitQuit();
                }
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // stopped by a signal: the hook is what ended the run
                }
                if (control != null) control.close();
                if (stats) err.print(m.exitStatistics());
                if (reboot && exit.kind() == VmExit.Kind.RESET) {
                    // A fresh machine from the same configuration: what a power cycle gives real hardware.
                    if (!quiet) err.println("vmm: " + exit.reason() + "; rebooting (--reboot)");
                    continue;
                }
                report(exit);
                return exit.status();
            }
        }
    }

    /** {@code --incoming}: a URI or {@code defer} (checked before anything is built), or none. */
    private dev.vmm.control.incoming.IncomingMigration incomingMigration() {
        if (incoming == null) return dev.vmm.control.incoming.IncomingMigration.none();
        if (incoming.equals("defer") && qmp == null) throw new UsageException("--incoming defer needs --qmp (the URI comes by QMP migrate-incoming)");
        try {
            return dev.vmm.control.incoming.IncomingMigration.of(incoming);
        } catch (dev.vmm.control.incoming.IncomingUri.Refused e) {
            throw new UsageException("--incoming " + incoming + ": " + e.getMessage());
        }
    }

    /**
     * Fills the freshly built machine {@code m} from an incoming migration stream; false when a
     * quit (QMP, signal) came while waiting for {@code migrate-incoming} or the source.
     */
    private boolean receiveMigration(Machine m, dev.vmm.control.incoming.IncomingMigration in) {
        try {
            return in.receive(new dev.vmm.machine.MachineMigration(m), m.lifecycle().quitRequested(),
                    line -> { if (!quiet) err.println("vmm: " + line); })
                    == dev.vmm.control.incoming.IncomingMigration.Outcome.RECEIVED;
        } catch (dev.vmm.migration.MigrationException e) {
            throw new IncomingFailed("incoming migration failed: " + e.getMessage());
        }
    }

    /** The destination got no complete machine: it discards what it received (status 1). */
    public static final class IncomingFailed extends RuntimeException {
        IncomingFailed(String message) {
            super(message);
        }
    }

    private Machine restoreSnapshot(MachineConfig base) {
        try {
            return dev.vmm.snapshot.Snapshot.restore(restore, base);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new UsageException("snapshot " + restore + ": no such file");
        } catch (IOException e) {
            throw new UsageException("snapshot " + restore + ": " + e.getMessage());
        }
    }

    private dev.vmm.control.QmpServer startQmp(Machine m, dev.vmm.control.incoming.IncomingMigration incomingMigration) {
        if (qmp == null) return null;
        if (!qmp.startsWith("unix:") || qmp.length() <= 5) throw new UsageException("--qmp takes unix:PATH");
        dev.vmm.control.QmpServer s = new dev.vmm.control.QmpServer(Path.of(qmp.substring(5)),
                String.valueOf(RunCommand.class.getPackage().getImplementationVersion()));
        dev.vmm.control.MachineCommands.install(s, m, m.pio());
        dev.vmm.control.MachineCommands.installDiagnostics(s, m, m::vcpus, f -> dev.vmm.snapshot.Snapshot.save(m, f)); // x-vmm-*
        dev.vmm.control.MigrationCommands.install(s, dev.vmm.machine.MigratableMachine.of(m)).incoming(incomingMigration); // + migrate-incoming
        dev.vmm.control.BlockCommands.install(s, m::devices);
        dev.vmm.control.MediaCommands.install(s, () -> m.devices() == null ? java.util.List.of()
                : m.devices().parts(dev.vmm.devices.AhciDriveSlot.class));   // eject, blockdev-change-medium
        dev.vmm.control.DeviceDrivers drivers = dev.vmm.control.DeviceDrivers.install(s); // device_add, device_del
        dev.vmm.control.ConsoleCommands.install(s, drivers, m::devices);
        dev.vmm.balloon.BalloonCommands.install(s, m.devices().balloon()); // balloon, query-balloon, qom-get/set
        dev.vmm.power.PowerCommands.install(s, m.sleep()); // system_wakeup
        dev.vmm.control.pci.QueryPci.install(s, () -> m.devices() == null ? null : m.devices().pci().root(),
                d -> m.devices() == null ? null : m.devices().qdevId(d));
        dev.vmm.control.UsbCommands.install(s, drivers, m.devices(), m.lifecycle()); // usb-* hot-plug, input-send-event
        dev.vmm.control.block.BlockHotplug.install(s, drivers, m); // blockdev-add/del, virtio-blk-pci device_add
        dev.vmm.cpuhotplug.CpuHotplugQmp.install(s, drivers, m, dev.vmm.cpu.CpuSpec.parse(cpu).model()); // vCPU hot-plug, query-cpus-fast
        dev.vmm.control.netdev.NetHotplug.install(s, drivers, m); // netdev_add/del (taps), virtio-net-pci device_add
        dev.vmm.dump.MachineDump.installQmp(s, m); // dump-guest-memory, query-dump
        try {
            s.start();
        } catch (IOException e) {
            throw new UsageException("--qmp " + qmp + ": " + e.getMessage());
        }
        return s;
    }

    private void report(VmExit exit) {
        boolean failure = exit.kind() == VmExit.Kind.GUEST_FAILURE || exit.kind() == VmExit.Kind.VMM_ERROR
                || exit.kind() == VmExit.Kind.GUEST_PANIC;
        if (quiet && !failure) return;
        err.println("vmm: " + exit.reason());
        if (failure && exit.details() != null) err.println(exit.details());
    }

    MachineConfig config() {
        byte[] kernelBytes;
        String kernelName;
        if (restore != null || incoming != null) {
            if (kernel != null) throw new UsageException("--restore/--incoming and --kernel exclude each other");
            kernelBytes = null;
            kernelName = restore != null ? "snapshot " + restore : "incoming migration";
        } else if (kernel == null && firmwareBoot()) {
            kernelBytes = null;
            kernelName = "firmware " + biosPath();
        } else if (bios != null) {
            throw new UsageException("--bios and --kernel exclude each other (direct kernel boot needs no firmware)");
        } else if (kernel == null) {
            kernelBytes = demoGuest();
            kernelName = "built-in demo guest";
        } else {
            kernelBytes = readFile(kernel, "kernel");
            kernelName = kernel.toString();
        }
        byte[] initrdBytes = initrd == null ? null : readFile(initrd, "initrd");
        try {
            dev.vmm.smp.SmpTopology smp = smpTopology(); // --cpus N[,maxcpus=M,...] (issue 15)
            return new MachineConfig(machine, memory.bytes(), smp.cpus(), kernelBytes, kernelName, initrdBytes, cmdline, serial,
                    new GuestRam.Options(sharedMemory || memory.share(), hugepages, false, memory.thp(), memory.prealloc()),
                    reboot, stats, devices(), new MachineConfig.SleepStates(!noS3, !noS4),
                    platform(kernelBytes == null && restore == null && incoming == null), smp);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** {@code --cpus}: QEMU's {@code -smp} rules and messages ({@link dev.vmm.smp.SmpTopology}). */
    private dev.vmm.smp.SmpTopology smpTopology() {
        try {
            return dev.vmm.smp.SmpTopology.parse(cpus, machine);
        } catch (dev.vmm.smp.SmpTopology.Invalid e) {
            throw new UsageException("--cpus " + cpus + ": " + e.getMessage());
        }
    }

    /** Firmware boot: no --kernel, and --bios or a drive a BIOS can boot from. */
    private boolean firmwareBoot() {
        return bios != null || !disks.isEmpty() || !ahciDisks.isEmpty() || !cdroms.isEmpty() || !usbStorage.isEmpty();
    }

    private Path biosPath() {
        return bios != null ? bios : dev.vmm.firmware.PlatformOptions.DEFAULT_BIOS;
    }

    private dev.vmm.firmware.PlatformOptions platform(boolean firmware) {
        for (String s : smbios) dev.vmm.chipset.smbios.SmbiosSpec.parse(s);   // a bad --smbios is the user's error now
        return new dev.vmm.firmware.PlatformOptions(firmware ? biosPath() : null, dev.vmm.firmware.BootOptions.parse(boot), !noHpet, smbios);
    }

    /** The device options as specs, in attach order (disks, NICs, SCSI, rng, console, pvpanic: it decides PCI slots). */
    private MachineConfig.Devices devices() {
        java.util.List<dev.vmm.config.DeviceSpec> specs = new java.util.ArrayList<>();
        for (String s : rootPorts) specs.add(dev.vmm.config.pci.RootPortSpec.parse(s)); // before the devices naming them
        for (String s : disks) specs.add(dev.vmm.config.pci.PlacedSpec.parse("--disk", s, dev.vmm.config.DiskSpec::parse));
        for (String s : nets) specs.add(dev.vmm.config.pci.PlacedSpec.parse("--net", s, dev.vmm.config.NetOptions::parse));
        dev.vmm.config.scsi.ScsiLayout.add(specs, scsi, scsiControllers); // --scsi, --scsi-controller
        if (rng != null) specs.add(dev.vmm.config.pci.PlacedSpec.parse("--rng", rng, dev.vmm.config.RngOptions::parse));
        if (!consolePorts.isEmpty()) {
            java.util.List<dev.vmm.config.ConsolePortOptions> ports = new java.util.ArrayList<>();
            for (String s : consolePorts) ports.add(dev.vmm.config.ConsolePortOptions.parse(s));
            specs.add(new dev.vmm.config.ConsoleSpec(ports));
        }
        if (pvpanic != null) specs.add(dev.vmm.config.PvpanicSpec.parse(pvpanic));
        if (!ahciDisks.isEmpty() || !cdroms.isEmpty()) specs.add(AhciArgument.spec(ahciDisks, cdroms));
        if (balloon != null) specs.add(dev.vmm.config.BalloonSpec.parse(balloon).at(specs.size(), sharedMemory || memory.share()));
        // The controller before its devices: they plug into its root hub when attached.
        if (usb != null) specs.add(dev.vmm.config.UsbSpec.parse(usb));
        specs.addAll(dev.vmm.config.UsbDeviceSpec.parseAll(usbStorage, usbTablets, usbKeyboards, usbMice, usbControllerGiven()));
        return new MachineConfig.Devices(specs);
    }

    /** Whether --usb (the xHCI controller the USB devices plug into) was given. */
    private boolean usbControllerGiven() {
        return usb != null;
    }

    static byte[] demoGuest() {
        try (InputStream in = RunCommand.class.getResourceAsStream(DEMO_RESOURCE)) {
            if (in == null) throw new UsageException("this build has no built-in demo guest; use --kernel FILE");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UsageException("cannot read the built-in demo guest: " + e.getMessage());
        }
    }

    static byte[] readFile(Path p, String what) {
        try {
            if (Files.isDirectory(p)) throw new UsageException(what + " " + p + " is a directory");
            return Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            throw new UsageException(what + " " + p + ": no such file");
        } catch (AccessDeniedException e) {
            throw new UsageException(what + " " + p + ": permission denied");
        } catch (IOException e) {
            throw new UsageException(what + " " + p + ": " + e.getMessage());
        } catch (OutOfMemoryError e) {
            throw new UsageException(what + " " + p + " is too large to load");
        }
    }

    /** Maps a boot problem (bad kernel, too little memory) to a usage error: the user must change the arguments. */
    static UsageException usage(BootException e) {
        return new UsageException(e.getMessage());
    }
}
