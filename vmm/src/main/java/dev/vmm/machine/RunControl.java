package dev.vmm.machine;

import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.vcpu.VcpuExitHandler;

/**
 * What QMP's run-state commands ({@code dev.vmm.control.MachineCommands}: query-status, stop,
 * cont, quit, system_reset, system_powerdown and their events) use of a machine: its
 * {@link Lifecycle} and the calls that park, release or end its vCPUs. {@link Machine} implements
 * it; naming the concern lets the commands be driven without KVM (a test supplies the vCPU layer).
 */
public interface RunControl extends VcpuExitHandler {
    /** Run state and life-cycle events. */
    Lifecycle lifecycle();

    /** Whether the vCPUs are paused. */
    boolean paused();

    /** Parks every vCPU (QMP {@code stop}); idempotent. */
    void pause() throws InterruptedException;

    /** Lets the vCPUs run again (QMP {@code cont}). */
    void resume();

    /** QEMU's autostart while an incoming migration is awaited. */
    void autostart(boolean on);

    /** Ends the run from outside the guest (QMP {@code quit}). */
    void stop(String why);
}
