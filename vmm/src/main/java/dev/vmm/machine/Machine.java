package dev.vmm.machine;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.legacy.Uart16550;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuExitHandler;
import dev.vmm.vcpu.VcpuGate;
import dev.vmm.vcpu.VmExit;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A built machine: KVM VM, guest RAM, buses with their devices, and the vCPUs. {@link #run()}
 * starts the vCPUs and returns why the machine stopped.
 */
public final class Machine implements VcpuExitHandler, AutoCloseable {
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
    private final CompletableFuture<VmExit> exit = new CompletableFuture<>();
    private final VcpuGate gate;
    private final java.util.List<java.util.function.Consumer<String>> eventListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean paused;
    private MachineConfig config;
    private dev.vmm.chipset.legacy.CmosRtc cmos;
    private dev.vmm.chipset.legacy.I8042 i8042;

    Machine(Kvm kvm, VmFd vm, GuestMemory memory, Bus pio, Bus mmio, List<Vcpu> vcpus, Uart16550 com1,
            ConsoleOutput console, boolean serialInputFromStdin, String bootSummary, VcpuGate gate) {
        this.gate = gate;
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
    }

    void attachStateful(MachineConfig config, dev.vmm.chipset.legacy.CmosRtc cmos, dev.vmm.chipset.legacy.I8042 i8042) {
        this.config = config;
        this.cmos = cmos;
        this.i8042 = i8042;
    }

    public MachineConfig config() { return config; }

    private VirtioWiring virtio;

    void attachVirtio(VirtioWiring v) {
        this.virtio = v;
    }

    /** The virtio devices and their PCI wiring (snapshots, migration, disks and console for the control socket); null without PCI. */
    public VirtioWiring virtio() { return virtio; }

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
        exit.complete(e);
    }

    /** Requests a stop from outside the guest (signal, control socket). */
    public void stop(String why) {
        exit.complete(new VmExit(VmExit.Kind.STOPPED, 0, why, null));
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

    /** Without {@code announce} no STOP event: for {@link #briefly}, which a QMP client must not see as a stop. */
    private synchronized void pause(boolean announce) throws InterruptedException {
        if (paused || exit.isDone()) return;
        gate.requestPause();
        for (Vcpu v : vcpus) v.kick();
        if (!gate.awaitParked(vcpus.size(), 10_000)) throw new IllegalStateException("vCPUs did not pause within 10 s");
        for (Vcpu v : vcpus) v.fd().kvmclockCtrl(); // tell the guest it was stopped (no soft-lockup noise)
        paused = true;
        if (announce) eventListeners.forEach(l -> l.accept("STOP"));
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
        if (virtio != null) virtio.startAfterStateChange(); // devices stopped for a state save run again first
        gate.resume();
        if (announce) eventListeners.forEach(l -> l.accept("RESUME"));
    }

    /**
     * Auto-converge: let the vCPUs run only {@code 100 - percent}% of the time (0 = full speed), as
     * QEMU's {@code cpu-throttle-percentage}. Called by the migration thread through
     * {@link MachineMigration#throttle}.
     *
     * <p>TODO(lead): STUB — does nothing yet. The lead implements the vCPU duty cycle here
     * (Machine/VcpuGate); until then auto-converge changes nothing in a real guest.
     */
    public void throttle(int percent) {
        // intentionally empty: see the TODO above
    }

    private boolean startPaused;

    /**
     * Makes {@link #run()} start with the vCPUs paused (QEMU's -S): not one guest instruction runs
     * until {@link #resume()} ('cont' over QMP). For an incoming migration this keeps the received
     * RAM exactly as it arrived, e.g. to compare it with the source's.
     */
    public void startPaused() {
        this.startPaused = true;
    }

    /** Runs the guest until it stops; returns why. */
    public VmExit run() {
        if (serialInputFromStdin) startStdinReader();
        if (startPaused) {
            synchronized (this) {
                gate.requestPause();
                for (Vcpu v : vcpus) v.kick();  // immediate exit: the first KVM_RUN returns at once and parks
                paused = true;
            }
        } else if (virtio != null) {
            virtio.startAfterStateChange(); // a restored machine's devices start before its vCPUs
        }
        for (Vcpu v : vcpus) v.start();
        VmExit e = exit.join();
        gate.stop();
        for (Vcpu v : vcpus) v.stop();
        eventListeners.forEach(l -> l.accept("SHUTDOWN"));
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

    /** Exits per vCPU and KVM exit reason, for {@code --stats}. */
    public String exitStatistics() {
        StringBuilder sb = new StringBuilder();
        for (Vcpu v : vcpus) {
            long[] c = v.exitCounts();
            sb.append(String.format("vcpu%d exits: io=%d mmio=%d intr=%d hlt=%d%n", v.id(),
                    c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_IO], c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_MMIO],
                    c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_INTR], c[dev.vmm.ffm.kvm.KvmIoctls.KVM_EXIT_HLT]));
        }
        if (virtio != null) sb.append(virtio.statistics());
        return sb.toString();
    }

    private void startStdinReader() {
        Thread.ofPlatform().daemon(true).name("serial-stdin").start(() -> {
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
        if (virtio != null) virtio.close();
        for (Vcpu v : vcpus) v.fd().close();
        console.close();
        vm.close();
        kvm.close();
    }
}
