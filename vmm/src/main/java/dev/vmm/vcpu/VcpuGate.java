package dev.vmm.vcpu;

/**
 * Where vCPU threads park while the machine is paused. {@link #pause} returns once every vCPU is
 * parked outside KVM_RUN, so the caller may then read or change vCPU and device state.
 */
public final class VcpuGate {
    private final int vcpus;
    private boolean paused;
    private boolean stopping;
    private int parked;

    public VcpuGate(int vcpus) {
        this.vcpus = vcpus;
    }

    public synchronized boolean pauseRequested() {
        return paused;
    }

    /** Called by a vCPU thread that saw a pause request; returns when resumed (or stopping). */
    synchronized void park() {
        parked++;
        notifyAll();
        try {
            while (paused && !stopping) wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            parked--;
        }
    }

    /** Marks the machine paused; the caller kicks the vCPUs and then calls {@link #awaitParked}. */
    public synchronized void requestPause() {
        paused = true;
    }

    /** Waits until all running vCPUs are parked (or the machine is stopping). */
    public synchronized boolean awaitParked(int running, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (parked < Math.min(running, vcpus) && !stopping) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) return false;
            wait(left);
        }
        return true;
    }

    public synchronized void resume() {
        paused = false;
        notifyAll();
    }

    public synchronized void stop() {
        stopping = true;
        notifyAll();
    }
}
