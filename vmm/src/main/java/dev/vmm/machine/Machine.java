package dev.vmm.machine;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuGate;
import dev.vmm.vcpu.VmExit;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import dev.vmm.devices.DeviceRegistry;
import java.util.concurrent.TimeUnit;

/**
 * A built machine: KVM VM, guest RAM, buses with their devices, and the vCPUs. {@link #run()}
 * starts the vCPUs and returns why the machine stopped.
 */
public final class Machine implements RunControl, AutoCloseable {
    private final Kvm kvm;
    private final VmFd vm;
    private final GuestMemory memory;
    private final Bus pio;
    private final Bus mmio;
    private final List<Vcpu> vcpus;
    private final Uart16550 com1;
    private final ConsoleOutput console;
    private final boolean serialInputFromStdin;
    private final String bootSummary;
    private final MachineExit exit;
    private final VcpuGate gate;
    private final java.util.List<java.util.function.Consumer<String>> eventListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean paused;
    private MachineConfig config;
    private dev.vmm.chipset.legacy.CmosRtc cmos;
    private dev.vmm.chipset.legacy.I8042 i8042;

    Machine(Kvm kvm, VmFd vm, GuestMemory memory, Bus pio, Bus mmio, List<Vcpu> vcpus, Uart16550 com1,
            ConsoleOutput console, boolean serialInputFromStdin, String bootSummary, VcpuGate gate, MachineExit exit) {
        this.gate = gate;
        this.exit = exit;
        this.kvm = kvm;
        this.vm = vm;
        this.memory = memory;
        this.pio = pio;
        this.mmio = mmio;
        this.vcpus = vcpus;
        this.com1 = com1;
        this.console = console;
        this.serialInputFromStdin = serialInputFromStdin;
        this.bootSummary = bootSummary;
        exit.intercept(this::interceptExit); // lifecycle
    }

    // ---- lifecycle (QEMU run states and events, panic policy; dev.vmm.lifecycle) ----
    private final dev.vmm.lifecycle.Lifecycle lifecycle = new dev.vmm.lifecycle.Lifecycle();

    /** Run state, life-cycle events, panic policy, --no-shutdown. */
    public dev.vmm.lifecycle.Lifecycle lifecycle() { return lifecycle; }

    /** Pvpanic reports that do not end the run: "crash loaded", and a panic under --on-panic pause. */
    private boolean interceptExit(VmExit e) {
        if (e.kind() == VmExit.Kind.GUEST_CRASHLOADED) {
            lifecycle.crashLoaded();
            return true;
        }
        if (e.kind() != VmExit.Kind.GUEST_PANIC) return false;
        lifecycle.panicked();
        if (lifecycle.panicPolicy().kind() != dev.vmm.lifecycle.PanicPolicy.Kind.PAUSE) return false;
        // On the vCPU thread: parking every vCPU (this one too) must happen elsewhere.
        dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "panic-pause", () -> {
            try {
                pause(false);
            } catch (InterruptedException | IllegalStateException ignored) {
                // the run is ending anyway
            }
        });
        return true;
    }
    // ---- end lifecycle ----

    // ---- ACPI S3/S4 (dev.vmm.power, docs/lifecycle.md) ----
    private dev.vmm.chipset.acpi.AcpiPm pm;
    private final dev.vmm.power.GuestSleep sleep = new dev.vmm.power.GuestSleep(lifecycle, new dev.vmm.power.GuestSleep.Platform() {
        @Override public void parkVcpus() throws InterruptedException { pause(false); }

        @Override public dev.vmm.power.WakeEntry wakeEntry() {
            return dev.vmm.power.WakeEntry.fromRsdp(memory, MachineRecipe.named(config.machine()).rsdpAddress());
        }

        /** QEMU's wake: the devices reset (RAM kept), then WAK_STS (RTC_STS) for the resuming OS. */
        @Override public void wakeStatus(boolean byRtc) {
            for (String failed : wakeReset.run()) System.err.println("vmm: S3 wake: device reset failed: " + failed);
            pm.wake(byRtc);
        }

        /** KVM: the BSP at the waking vector, the APs back in wait-for-SIPI (the OS restarts them). Not runnable without /dev/kvm. */
        @Override public void resumeAt(dev.vmm.power.WakeEntry entry) {
            dev.vmm.power.WakeRegisters.apply(vcpus.get(0).fd(), entry);
            for (int i = 1; i < vcpus.size(); i++) vcpus.get(i).fd().setMpState(dev.vmm.power.WakeRegisters.MP_STATE_INIT_RECEIVED);
            resume(false);
        }

        @Override public void resetInstead(String why) {
            exit.accept(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset (" + why + ")", null));
        }
    });

    /** The devices an S3 wake resets (docs/lifecycle.md); set with the PM block. */
    private volatile dev.vmm.power.WakeReset wakeReset = new dev.vmm.power.WakeReset();

    /** S3 and S4 (QMP system_wakeup). */
    public dev.vmm.power.GuestSleep sleep() { return sleep; }

    void attachPower(dev.vmm.chipset.acpi.AcpiPm pm) {
        this.pm = pm;
        wakeReset = dev.vmm.power.MachineWakeReset.of(com1, i8042, cmos, pm,
                () -> devices == null ? java.util.List.of() : devices.transports(),
                () -> devices == null ? java.util.List.of() : devices.parts(dev.vmm.power.WakeResettable.class));
        if (gpe != null) wakeReset.add("gpe0", gpe::reset); // QEMU's PM reset clears GPE0 too
        // The RTC alarm wakes S3 when the guest set RTC_EN (docs/rtc.md).
        dev.vmm.power.RtcAlarmWake.install(cmos, pm, sleep,
                why -> exit.accept(new VmExit(VmExit.Kind.VMM_ERROR, VmExit.FAILURE_STATUS, why, null)));
        // On the vCPU thread that wrote SLP_EN: S3 parks every vCPU, so it happens on another thread.
        pm.onSleep(type -> {
            if (type == dev.vmm.chipset.acpi.AcpiPm.SLP_TYP_S4) {
                sleep.hibernate();
                exit.accept(new VmExit(VmExit.Kind.POWER_OFF, 0, dev.vmm.power.GuestSleep.HIBERNATED, null));
            } else {
                dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONTROL, "acpi-s3", () -> {
                    try {
                        sleep.suspend();
                    } catch (Exception e) {
                        exit.accept(new VmExit(VmExit.Kind.VMM_ERROR, VmExit.FAILURE_STATUS, "entering S3 failed: " + e.getMessage(), null));
                    }
                });
            }
        });
    }
    // ---- end ACPI S3/S4 ----

    void attachStateful(MachineConfig config, dev.vmm.chipset.legacy.CmosRtc cmos, dev.vmm.chipset.legacy.I8042 i8042,
                        dev.vmm.chipset.acpi.Gpe0Block gpe) {
        this.config = config;
        this.cmos = cmos;
        this.i8042 = i8042;
        this.gpe = gpe;
    }

    private dev.vmm.chipset.acpi.Gpe0Block gpe;

    /** The ACPI GPE0 block: hot-plug raises its events here (bit 1 PCI on pc, bit 2 CPU); saved in snapshots. */
    public dev.vmm.chipset.acpi.Gpe0Block gpe() { return gpe; }

    public MachineConfig config() { return config; }

    private DeviceRegistry devices;

    void attachDevices(DeviceRegistry d) {
        this.devices = d;
    }

    /** The machine's devices: virtio transports (snapshots, migration), drives and console (QMP), PCI. */
    public DeviceRegistry devices() { return devices; }

    public Uart16550 com1() { return com1; }

    public dev.vmm.chipset.legacy.CmosRtc cmos() { return cmos; }

    public dev.vmm.chipset.legacy.I8042 i8042() { return i8042; }

    public GuestMemory memory() { return memory; }

    public VmFd vm() { return vm; }

    public List<Vcpu> vcpus() { return vcpus; }

    public Bus pio() { return pio; }

    public Bus mmio() { return mmio; }

    /** One line: what was booted and how. */
    public String bootSummary() { return bootSummary; }

    @Override
    public void vmExit(VmExit e) {
        exit.accept(e);
    }

    /** Requests a stop from outside the guest (signal, control socket). */
    public void stop(String why) {
        lifecycle.requestQuit(dev.vmm.lifecycle.ShutdownCause.HOST_QMP_QUIT);
        exit.accept(new VmExit(VmExit.Kind.STOPPED, 0, why, null));
    }

    private dev.vmm.vcpu.VcpuThrottle throttle;

    /**
     * Auto-converge: the vCPUs sleep {@code percent}% of the time (0 = run freely), as QEMU's CPU
     * throttle makes them; called by a migration while the guest dirties RAM faster than it is sent.
     */
    public synchronized void throttle(int percent) {
        if (throttle == null) {
            if (percent == 0) return;
            throttle = new dev.vmm.vcpu.VcpuThrottle(vcpus);
        }
        throttle.set(percent);
    }

    /** The share of time the vCPUs are made to sleep now (0 = not throttled). */
    public synchronized int throttlePercent() {
        return throttle == null ? 0 : throttle.percent();
    }

    /** Whether the vCPUs are paused ({@code stop} in QMP terms). */
    public boolean paused() { return paused; }

    /** Receives "STOP", "RESUME" and "SHUTDOWN" as they happen (QMP events). */
    public void addEventListener(java.util.function.Consumer<String> l) { eventListeners.add(l); }

    /**
     * Pauses every vCPU outside KVM_RUN and returns when they are all parked: guest time stops and
     * vCPU and device state may be read or changed. Idempotent.
     */
    public synchronized void pause() throws InterruptedException {
        pause(true);
    }

    /** Stopped by a signal: SHUTDOWN says host-signal. */
    public void stopBySignal() {
        lifecycle.requestQuit(dev.vmm.lifecycle.ShutdownCause.HOST_SIGNAL);
        exit.accept(new VmExit(VmExit.Kind.HOST_SIGNAL, 0, "stopped by signal", null));
    }

    /** Without {@code announce} no STOP event: for {@link #briefly}, which a QMP client must not see as a stop. */
    private synchronized void pause(boolean announce) throws InterruptedException {
        if (paused || exit.isDone()) return;
        gate.requestPause();
        for (Vcpu v : vcpus) v.kick();
        if (!gate.awaitParked(vcpus.size(), 10_000)) throw new IllegalStateException("vCPUs did not pause within 10 s");
        for (Vcpu v : vcpus) v.fd().kvmclockCtrl(); // tell the guest it was stopped (no soft-lockup noise)
        paused = true;
        if (announce) {
            eventListeners.forEach(l -> l.accept("STOP"));
            lifecycle.paused();
        }
    }

    public synchronized void resume() {
        resume(true);
    }

    /** Work done during {@link #briefly}. */
    public interface PausedWork {
        void run() throws Exception;
    }

    /**
     * Runs {@code work} with the vCPUs parked and then lets them go on, announcing nothing (no
     * STOP/RESUME event); a machine paused already stays paused. Holds this machine's lock
     * throughout, so a 'stop' or 'cont' arriving meanwhile waits and is not lost.
     */
    public synchronized void briefly(PausedWork work) throws Exception {
        boolean wasPaused = paused;
        pause(false);
        try {
            work.run();
        } finally {
            if (!wasPaused) resume(false);
        }
    }

    /** Without {@code announce} no RESUME event (see {@link #pause(boolean)}). */
    private synchronized void resume(boolean announce) {
        if (!paused) return;
        paused = false;
        if (devices != null) devices.startAfterStateChange(); // devices stopped for a state save run again first
        gate.resume();
        if (announce) {
            eventListeners.forEach(l -> l.accept("RESUME"));
            lifecycle.resumed();
        }
    }

    private volatile boolean startPaused;

    /**
     * Makes {@link #run()} start with the vCPUs paused (QEMU's -S): not one guest instruction runs
     * until {@link #resume()} ('cont' over QMP). For an incoming migration this keeps the received
     * RAM exactly as it arrived, e.g. to compare it with the source's.
     */
    public void startPaused() {
        this.startPaused = true;
    }

    /**
     * QEMU's autostart, changed by QMP {@code stop} ({@code false}) and {@code cont} ({@code true})
     * while an incoming migration is awaited: whether {@link #run()} starts the vCPUs (issue 15).
     */
    public void autostart(boolean on) {
        this.startPaused = !on;
    }

    /** Runs the guest until it stops; returns why. */
    public VmExit run() {
        if (serialInputFromStdin) startStdinReader();
        if (startPaused) {
            synchronized (this) {
                gate.requestPause();
                for (Vcpu v : vcpus) v.kick();  // immediate exit: the first KVM_RUN returns at once and parks
                paused = true;
                // -S: prelaunch; after an incoming migration with -S: paused (as QEMU)
                if (lifecycle.state() == dev.vmm.lifecycle.RunState.INMIGRATE) lifecycle.states().transition(dev.vmm.lifecycle.RunState.PAUSED);
            }
        } else {
            if (devices != null) devices.startAfterStateChange(); // a restored machine's devices start before its vCPUs
            lifecycle.states().transition(dev.vmm.lifecycle.RunState.RUNNING);
        }
        synchronized (this) { // a vCPU hot-plugged before this point is started here, later ones by plugVcpu
            for (Vcpu v : vcpus) v.start();
            vcpusStarted = true;
        }
        VmExit e = exit.join();
        synchronized (this) {
            if (throttle != null) throttle.close();
        }
        gate.stop();
        for (Vcpu v : vcpus) v.stop();
        eventListeners.forEach(l -> l.accept("SHUTDOWN"));
        lifecycle.ended(e, e.kind() == VmExit.Kind.RESET && config != null && config.reboot());
        for (Vcpu v : vcpus) {
            try {
                v.thread().join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
        }
        console.flush();
        return e;
    }

    // ---- CPU hot-plug (issue 15; dev.vmm.cpuhotplug, docs/hotplug.md) ----
    private boolean vcpusStarted;
    private volatile dev.vmm.cpuhotplug.CpuHotplug cpuHotplug;

    void attachCpuHotplug(dev.vmm.cpuhotplug.CpuHotplug h) { this.cpuHotplug = h; }

    /** The CPU hot-plug controller, or null without {@code maxcpus} above {@code --cpus}. */
    public dev.vmm.cpuhotplug.CpuHotplug cpuHotplug() { return cpuHotplug; }

    /** Adds a hot-plugged vCPU: started now if the machine runs (parked at once while it is paused). */
    public synchronized void plugVcpu(Vcpu v) {
        vcpus.add(v);
        if (gate.pauseRequested()) v.kick(); // immediate exit: its first KVM_RUN returns and it parks
        if (vcpusStarted) v.start();
    }

    /**
     * Takes an ejected vCPU out: its thread ends (at once, or when a paused machine resumes) and
     * pause/resume no longer count it. Its fd stays open (KVM cannot destroy a vCPU) until close.
     */
    public void unplugVcpu(Vcpu v) {
        synchronized (this) {
            vcpus.remove(v);
            v.stop();
        }
        Thread t = v.thread();
        if (t != null && !paused) {
            try {
                t.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Exits per vCPU and KVM exit reason, for {@code --stats}. */
    public String exitStatistics() {
        StringBuilder sb = new StringBuilder();
        for (Vcpu v : vcpus) {
            long[] c = v.exitCounts();
            sb.append(String.format("vcpu%d exits: io=%d mmio=%d intr=%d hlt=%d%n", v.id(),
                    c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_IO], c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_MMIO],
                    c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_INTR], c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_HLT]));
        }
        if (devices != null) sb.append(devices.statistics());
        return sb.toString();
    }

    private void startStdinReader() {
        dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.CONSOLE, "serial-stdin", () -> {
            InputStream in = System.in;
            byte[] b = new byte[256];
            try {
                int n;
                while ((n = in.read(b)) > 0) {
                    int off = 0;
                    while (off < n) {
                        int space = com1.rxSpace();
                        if (space == 0) {
                            Thread.sleep(1); // back-pressure: the guest has not drained its FIFO yet
                            continue;
                        }
                        int k = Math.min(space, n - off);
                        com1.enqueue(java.util.Arrays.copyOfRange(b, off, off + k));
                        off += k;
                    }
                }
            } catch (IOException | InterruptedException e) {
                // stdin closed: the guest simply gets no more input
            }
        });
    }

    @Override
    public void close() {
        if (devices != null) devices.close();
        for (Vcpu v : vcpus) v.fd().close();
        if (cpuHotplug != null) cpuHotplug.closeParked(); // unplugged vCPUs kept for reuse
        console.close();
        vm.close();
        kvm.close();
    }
}
