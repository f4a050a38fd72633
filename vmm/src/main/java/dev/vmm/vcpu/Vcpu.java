package dev.vmm.vcpu;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.kvm.KvmRun;
import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.util.Arrays;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/**
 * One vCPU on its own platform thread: KVM_RUN, dispatch the exit to the PIO or MMIO bus, repeat.
 * The exit path takes no locks and allocates nothing. Another thread stops the loop with
 * {@link #kick()}: immediate_exit plus a signal that interrupts KVM_RUN.
 */
public final class Vcpu implements Runnable, VcpuView {
    private final VcpuFd fd;
    private final KvmRun run;
    private final ExitDispatcher exits;
    private final VcpuExitHandler exitHandler;
    private final VcpuGate gate;
    private final long[] exitCounts = new long[64];
    private volatile boolean stopRequested;
    private volatile long throttleSleepNanos;
    private volatile long pthread;
    private volatile int tid = -1;
    private final java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
    private Thread thread;

    public Vcpu(VcpuFd fd, Bus pio, Bus mmio, VcpuExitHandler exitHandler, VcpuGate gate) {
        this.gate = gate;
        this.fd = fd;
        this.run = fd.kvmRun();
        this.exits = new ExitDispatcher(run, pio, mmio);
        this.exitHandler = exitHandler;
    }

    public int id() { return fd.id(); }

    public VcpuFd fd() { return fd; }

    public synchronized void start() {
        thread = dev.vmm.threads.VmmThreads.unstarted(dev.vmm.threads.ThreadKind.VCPU, "vcpu-" + fd.id(), this);
        thread.start();
    }

    public Thread thread() { return thread; }

    /**
     * The host thread id of this vCPU's thread (QMP {@code query-cpus-fast}), waiting up to
     * {@code timeoutMs} for a just started thread to get there; -1 if it has not.
     */
    public int threadId(long timeoutMs) {
        try {
            started.await(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return tid;
    }

    /** Asks the loop to end; safe from any thread, and idempotent. */
    public void stop() {
        stopRequested = true;
        kick();
    }

    /**
     * Makes the vCPU leave KVM_RUN soon: immediate_exit covers the case where it is not in KVM_RUN
     * right now, the signal the case where it is. The loop then looks at the gate and the stop flag.
     */
    public void kick() {
        run.setImmediateExit(true);
        long t = pthread;
        if (t != 0) Libc.pthreadKill(t, VcpuKick.signal());
    }

    /**
     * Auto-converge ({@link VcpuThrottle}): leave KVM_RUN and sleep {@code nanos} once, on this
     * vCPU's own thread, before running the guest again.
     */
    void sleepOnce(long nanos) {
        throttleSleepNanos = nanos;
        kick();
    }

    /** Exits handled so far, by KVM exit reason. */
    public long[] exitCounts() {
        return Arrays.copyOf(exitCounts, exitCounts.length);
    }

    @Override
    public void run() {
        pthread = Libc.pthreadSelf();
        tid = Libc.gettid();
        started.countDown();
        try {
            loop();
        } catch (RuntimeException e) {
            exitHandler.vmExit(new VmExit(VmExit.Kind.VMM_ERROR, VmExit.FAILURE_STATUS,
                    "vCPU " + fd.id() + ": " + e.getMessage(), stackTrace(e)));
        }
    }

    private void loop() {
        while (!stopRequested) {
            int r = fd.run();
            if (r < 0) {
                if (r == -Errno.EINTR || r == -Errno.EAGAIN) {
                    run.setImmediateExit(false);
                    if (gate.pauseRequested() && !stopRequested) gate.park();
                    long sleep = throttleSleepNanos;
                    if (sleep > 0) {
                        throttleSleepNanos = 0;
                        if (!stopRequested) java.util.concurrent.locks.LockSupport.parkNanos(sleep);
                    }
                    continue;
                }
                throw new NativeException("KVM_RUN", -r);
            }
            int reason = run.exitReason();
            if (reason >= 0 && reason < exitCounts.length) exitCounts[reason]++;
            switch (reason) {
                case KVM_EXIT_IO -> exits.io();
                case KVM_EXIT_MMIO -> exits.mmio();
                case KVM_EXIT_INTR, KVM_EXIT_IRQ_WINDOW_OPEN -> { }
                case KVM_EXIT_HLT -> {
                    // Only without an in-kernel LAPIC; ours always has one, so a HLT exit means the guest stopped for good.
                    fail("guest halted with no way to wake up (HLT exit)");
                    return;
                }
                case KVM_EXIT_SHUTDOWN -> {
                    fail("guest triple fault (KVM_EXIT_SHUTDOWN)");
                    return;
                }
                case KVM_EXIT_INTERNAL_ERROR -> {
                    fail(internalErrorText());
                    return;
                }
                case KVM_EXIT_FAIL_ENTRY -> {
                    fail(String.format("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%x", run.hardwareEntryFailureReason()));
                    return;
                }
                case KVM_EXIT_SYSTEM_EVENT -> {
                    int type = run.systemEventType();
                    if (type == KVM_SYSTEM_EVENT_RESET) {
                        exitHandler.vmExit(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset", null));
                    } else if (type == KVM_SYSTEM_EVENT_SHUTDOWN) {
                        exitHandler.vmExit(new VmExit(VmExit.Kind.POWER_OFF, 0, "guest powered off", null));
                    } else {
                        fail("guest crashed (system event " + type + ")");
                    }
                    return;
                }
                case KVM_EXIT_EXCEPTION -> {
                    fail(String.format("unhandled guest exception %d (error code 0x%x)", run.exception(), run.exceptionErrorCode()));
                    return;
                }
                default -> {
                    fail("unexpected KVM exit reason " + reason);
                    return;
                }
            }
        }
    }

    private String internalErrorText() {
        int sub = run.internalSuberror();
        String what = switch (sub) {
            case KVM_INTERNAL_ERROR_EMULATION -> "emulation failure (the host's instruction emulator cannot run this guest instruction)";
            case KVM_INTERNAL_ERROR_SIMUL_EX -> "exception while delivering another exception";
            case KVM_INTERNAL_ERROR_DELIVERY_EV -> "failure while delivering an event";
            case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON -> "unexpected exit reason";
            default -> "suberror " + sub;
        };
        StringBuilder sb = new StringBuilder("KVM_EXIT_INTERNAL_ERROR: ").append(what);
        long[] d = run.internalData();
        if (d.length > 0) {
            sb.append(" [data");
            for (long x : d) sb.append(String.format(" 0x%x", x));
            sb.append(']');
        }
        return sb.toString();
    }

    private void fail(String reason) {
        exitHandler.vmExit(VmExit.failure("vCPU " + fd.id() + ": " + reason, registerDump()));
    }

    /** Registers and segments, for failure reports. */
    public String registerDump() {
        try {
            return fd.getRegs() + System.lineSeparator() + fd.getSregs();
        } catch (RuntimeException e) {
            return "(registers unavailable: " + e.getMessage() + ")";
        }
    }

    private static String stackTrace(Throwable t) {
        var sw = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(sw));
        return sw.toString();
    }
}
