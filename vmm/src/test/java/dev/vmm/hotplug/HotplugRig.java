package dev.vmm.hotplug;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.config.pci.RootPortSpec;
import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.control.block.BlockNodes;
import dev.vmm.control.block.BlockdevCommands;
import dev.vmm.control.block.VirtioBlkPciDriver;
import dev.vmm.control.netdev.NetdevCommands;
import dev.vmm.control.netdev.Netdevs;
import dev.vmm.control.netdev.VirtioNetPciDriver;
import dev.vmm.control.pci.HotplugPciDriver;
import dev.vmm.control.pci.QueryPci;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.VirtioAttach;
import dev.vmm.devices.pcie.RootPortAttach;
import dev.vmm.machine.ConsoleOutput;
import dev.vmm.machine.MachineConfig;
import dev.vmm.machine.MachineRecipe;
import dev.vmm.machine.GuestRam;
import dev.vmm.memory.GuestMemory;
import dev.vmm.virtio.io.IoThread;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A machine's parts without KVM, put together as {@code MachineBuilder} does: the recipe's chipset
 * on scratch buses (pc or q35), the placement, a registry, an I/O thread, {@link VirtioAttach} over
 * {@link RecordingKvm}, and the QMP commands of block hot-plug on a real socket. The test plays the
 * guest through the buses (0xCF8/0xCFC, BARs, the hot-plug registers) and guest RAM.
 */
final class HotplugRig implements AutoCloseable {
    final Bus pio = new Bus("pio"), mmio = new Bus("mmio");
    final GuestMemory memory;
    final RecordingKvm kvm = new RecordingKvm();
    final AtomicBoolean sci = new AtomicBoolean();
    final MachineRecipe recipe;
    final MachineRecipe.Chipset chipset;
    final MachineConfig cfg;
    final PciPlacement placement;
    final DeviceRegistry registry;
    final List<IoThread> ioThreads = new ArrayList<>();
    final BlockNodes nodes = new BlockNodes();
    final Netdevs netdevs = new Netdevs();
    final QmpServer server;
    final QmpClient qmp;

    /** @param rootPorts q35 only: ids of pcie-root-ports to add (chassis 1, slots 1..n) */
    HotplugRig(String machine, Path dir, String... rootPorts) throws Exception {
        this(machine, dir, List.of(), false, rootPorts);
    }

    /**
     * @param startup device options present at start ({@code --disk}/{@code --rng} specs, e.g. a
     *                migration destination's), attached after the root ports with the same attach
     *                code as {@code vmm run}; their disk locks are deferred, as {@code --incoming} does
     */
    HotplugRig(String machine, Path dir, List<dev.vmm.config.DeviceSpec> startup, String... rootPorts) throws Exception {
        this(machine, dir, startup, false, rootPorts);
    }

    /** @param coldScsi a virtio-scsi controller without disks present from the start (bus {@code scsi.0}, as {@code --scsi}'s) */
    HotplugRig(String machine, Path dir, boolean coldScsi, String... rootPorts) throws Exception {
        this(machine, dir, List.of(), coldScsi, rootPorts);
    }

    HotplugRig(String machine, Path dir, List<dev.vmm.config.DeviceSpec> startup, boolean coldScsi, String... rootPorts) throws Exception {
        cfg = new MachineConfig(machine, 256L << 20, 1, new byte[0], "none", null, "", new MachineConfig.Serial.None(),
                GuestRam.Options.DEFAULT, false, false, MachineConfig.Devices.NONE);
        recipe = MachineRecipe.named(machine);
        memory = GuestRam.map(cfg.memoryBytes(), GuestRam.Options.DEFAULT, recipe.lowRamEnd(cfg.memoryBytes()));
        chipset = recipe.install(pio, mmio, gsi -> level -> { if (gsi == 9) sci.set(level); }, cfg, memory,
                new ConsoleOutput(OutputStream.nullOutputStream()), exit -> { });
        IoThread io = new IoThread("io-0", 256);
        io.start();
        ioThreads.add(io);
        registry = new DeviceRegistry(chipset.pci(), ioThreads);
        placement = new PciPlacement(chipset.pci().root(), recipe.rootBusName());
        AttachContext ctx = new AttachContext(placement, new VirtioAttach(kvm, memory, ioThreads, placement, registry),
                registry, memory, ioThreads, cfg.cpus(), OutputStream.nullOutputStream(), exit -> { });
        registry.addPart(placement);                 // as MachineBuilder: the buses by name, before the devices
        registry.addPart(ctx);                       // (a start-up device with id= is attached through PciHotplug)
        registry.addPart(recipe.pciSlots());
        int slot = 1;
        for (String id : rootPorts) {
            new RootPortAttach(new RootPortSpec(id, 1, slot, slot, null), slot).attach(ctx);
            slot++;
        }
        for (dev.vmm.devices.PendingDevice d : dev.vmm.devices.DeviceKinds.openAll(startup, new dev.vmm.devices.OpenContext(cfg.cpus(), true))) {
            ColdPlug.attach(d, ctx);
        }
        if (coldScsi) dev.vmm.devices.VirtioScsiAttach.withoutDisks(dev.vmm.devices.VirtioScsiAttach.COLD_BUS, 1, registry::addPart).attach(ctx); // as a start-up one
        chipset.pci().assignResources();
        recipe.acpiTables(chipset, cfg);             // pc: seals the slot layout, as writeTables does
        server = new QmpServer(dir.resolve("qmp-" + Long.toHexString(System.nanoTime()) + ".sock"), "test");
        BlockdevCommands.install(server, nodes);
        DeviceDrivers drivers = DeviceDrivers.install(server);
        HotplugPciDriver.Parts parts = new HotplugPciDriver.Parts(() -> placement, f -> registry.qdevId(f.device()), () -> PciHotplug.of(registry));
        drivers.register(new VirtioBlkPciDriver(nodes, parts));
        NetdevCommands.install(server, netdevs);
        drivers.register(new VirtioNetPciDriver(netdevs, parts));
        dev.vmm.control.scsi.ScsiHotplug.install(server, drivers, registry, nodes, parts);
        QueryPci.install(server, () -> chipset.pci().root(), registry::qdevId);
        server.start();
        qmp = new QmpClient(server.path());
    }

    /** A config read as a guest makes it (mechanism #1). */
    long cfgRead(int bus, int dev, int fn, int reg, int size) {
        pio.write(0xCF8, 4, 0x8000_0000L | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xFC));
        return pio.read(0xCFC + (reg & 3), size);
    }

    void cfgWrite(int bus, int dev, int fn, int reg, int size, long value) {
        pio.write(0xCF8, 4, 0x8000_0000L | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xFC));
        pio.write(0xCFC + (reg & 3), size, value);
    }

    /** Waits (bounded) until {@code condition} holds. */
    static void await(java.util.function.BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("not within 20 s: " + what);
            java.util.concurrent.locks.LockSupport.parkNanos(200_000);
        }
    }

    @Override
    public void close() throws Exception {
        qmp.close();
        server.close();
        registry.close();
        nodes.closeAll();
        netdevs.closeAll();
        GuestRam.unmap(memory);
    }
}
