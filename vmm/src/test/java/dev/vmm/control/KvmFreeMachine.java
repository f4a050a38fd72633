package dev.vmm.control;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.pci.MsiSink;
import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.config.DeviceSpec;
import dev.vmm.devices.AttachContext;
import dev.vmm.devices.DeviceRegistry;
import dev.vmm.devices.KvmWiring;
import dev.vmm.devices.PciPlacement;
import dev.vmm.devices.VirtioAttach;
import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;
import dev.vmm.lifecycle.ShutdownCause;
import dev.vmm.machine.ConsoleOutput;
import dev.vmm.machine.GsiRouting;
import dev.vmm.machine.GuestRam;
import dev.vmm.machine.MachineConfig;
import dev.vmm.machine.MachineExit;
import dev.vmm.machine.MachineRecipe;
import dev.vmm.machine.RunControl;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.VmExit;
import dev.vmm.virtio.io.IoThread;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A machine without KVM, for the QMP commands that take one: the pc recipe's chipset on scratch
 * buses (its ACPI PM block, reset and power-off wired to a real {@link MachineExit}), a real
 * {@link DeviceRegistry} with the start-up devices attached by the same code as {@code vmm run}
 * ({@code --disk} over a temp image, {@code --console-port}, {@code --usb}...), a real
 * {@link Lifecycle}; only the vCPU layer is played: {@link #run} ends as {@code Machine.run} does
 * (the exit's SHUTDOWN or RESET through the lifecycle), {@link #pause}/{@link #resume} park nothing.
 */
final class KvmFreeMachine implements RunControl, AutoCloseable {
    final Bus pio = new Bus("pio"), mmio = new Bus("mmio");
    final GuestMemory memory;
    final MachineRecipe.Chipset chipset;
    final DeviceRegistry registry;
    final Lifecycle lifecycle = new Lifecycle();
    final MachineExit exit = new MachineExit();
    private final List<IoThread> ioThreads = new ArrayList<>();
    /** The vCPU layer's record: pauses and resumes that took effect, the autostart asked for. */
    final AtomicInteger pauses = new AtomicInteger(), resumes = new AtomicInteger();
    volatile Boolean autostart;
    volatile String stopReason;
    private volatile boolean paused;
    /** The exit that ended {@link #run}. */
    final CompletableFuture<VmExit> ended = new CompletableFuture<>();

    KvmFreeMachine(List<DeviceSpec> startup) {
        MachineConfig cfg = new MachineConfig("pc", 64L << 20, 1, new byte[0], "none", null, "", new MachineConfig.Serial.None(),
                GuestRam.Options.DEFAULT, false, false, MachineConfig.Devices.NONE);
        MachineRecipe recipe = MachineRecipe.named("pc");
        memory = GuestRam.map(cfg.memoryBytes(), GuestRam.Options.DEFAULT, recipe.lowRamEnd(cfg.memoryBytes()));
        chipset = recipe.install(pio, mmio, gsi -> level -> { }, cfg, memory, new ConsoleOutput(OutputStream.nullOutputStream()), exit);
        IoThread io = new IoThread("io-0", 256);
        io.start();
        ioThreads.add(io);
        registry = new DeviceRegistry(chipset.pci(), ioThreads);
        PciPlacement placement = new PciPlacement(chipset.pci().root(), recipe.rootBusName());
        AttachContext ctx = new AttachContext(placement, new VirtioAttach(new NoKvm(), memory, ioThreads, placement, registry),
                registry, memory, ioThreads, cfg.cpus(), OutputStream.nullOutputStream(), exit);
        registry.addPart(placement);
        registry.addPart(ctx);
        for (dev.vmm.devices.PendingDevice d : dev.vmm.devices.DeviceKinds.openAll(startup, new dev.vmm.devices.OpenContext(cfg.cpus(), false))) {
            dev.vmm.hotplug.ColdPlug.attach(d, ctx);
        }
        chipset.pci().assignResources();
    }

    /** KVM's wiring, unused by a guest that never runs: ioeventfds and MSI routes go nowhere. */
    private static final class NoKvm implements KvmWiring {
        @Override public void registerIoeventfd(int eventfd, long gpa, int len) { }

        @Override public void unregisterIoeventfd(int eventfd, long gpa, int len) { }

        @Override public GsiRouting.DeviceMsi msiVectors(int vectors) {
            MsiSink sink = (vector, address, data) -> { };
            MsixListener listener = (vector, address, data, masked) -> { };
            return new GsiRouting.DeviceMsi(sink, listener);
        }

        @Override public void releaseMsi(GsiRouting.DeviceMsi msi) { }
    }

    /**
     * Starts the run as {@code Machine.run} does: paused in prelaunch ({@code -S}) or running; on
     * a thread that waits for the exit and ends the run through the lifecycle ({@code reboot}: a
     * reset is announced as RESET, as {@code vmm run} does before it rebuilds the machine).
     */
    void run(boolean startPaused, boolean reboot) {
        if (startPaused) paused = true;
        else lifecycle.states().transition(RunState.RUNNING);
        Thread t = new Thread(() -> {
            VmExit e = exit.join();
            lifecycle.ended(e, e.kind() == VmExit.Kind.RESET && reboot);
            ended.complete(e);
        }, "kvm-free-run");
        t.setDaemon(true);
        t.start();
    }

    @Override public Lifecycle lifecycle() { return lifecycle; }

    @Override public boolean paused() { return paused; }

    @Override public synchronized void pause() {
        if (paused || exit.isDone()) return;
        paused = true;
        pauses.incrementAndGet();
        lifecycle.paused();
    }

    @Override public synchronized void resume() {
        if (!paused) return;
        paused = false;
        resumes.incrementAndGet();
        lifecycle.resumed();
    }

    @Override public void autostart(boolean on) { autostart = on; }

    @Override public void stop(String why) {
        stopReason = why;
        lifecycle.requestQuit(ShutdownCause.HOST_QMP_QUIT);
        exit.accept(new VmExit(VmExit.Kind.STOPPED, 0, why, null));
    }

    @Override public void vmExit(VmExit e) { exit.accept(e); }

    @Override
    public void close() {
        registry.close();
    }
}
