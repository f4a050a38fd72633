package dev.vmm.vcpu;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Auto-converge's brake: makes every vCPU sleep {@code percent}% of the time, the way QEMU's CPU
 * throttle does. Each period the vCPUs run a 10 ms time slice and then sleep
 * {@code slice × p / (1 − p)}: one thread ("vcpu-throttle") wakes once per period, hands each vCPU
 * its sleep and kicks it out of KVM_RUN; the vCPU sleeps on its own thread, outside KVM_RUN, so a
 * pause or stop is not delayed by more than one sleep.
 */
public final class VcpuThrottle implements AutoCloseable {
    /** QEMU's CPU_THROTTLE_TIMESLICE_NS: how long a vCPU runs between two sleeps. */
    public static final long TIMESLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    public static final int MAX_PERCENT = 99;

    /** One period of the duty cycle. */
    public record Schedule(long periodNanos, long sleepNanos) {
        /** The schedule for {@code percent} (1..99) of the time asleep. */
        public static Schedule of(int percent) {
            if (percent < 1 || percent > MAX_PERCENT) throw new IllegalArgumentException("throttle must be 1..99%, not " + percent);
            double p = percent / 100.0;
            long sleep = Math.round(TIMESLICE_NANOS * p / (1 - p));
            return new Schedule(TIMESLICE_NANOS + sleep, sleep);
        }
    }

    private final List<Vcpu> vcpus;
    private volatile int percent;
    private Thread thread;

    public VcpuThrottle(List<Vcpu> vcpus) {
        this.vcpus = vcpus;
    }

    /** The share of time the vCPUs sleep now (0 = not throttled). */
    public int percent() { return percent; }

    /** Sets the share of time the vCPUs sleep: 0 stops throttling, 1..99 throttles. */
    public synchronized void set(int newPercent) {
        if (newPercent != 0) Schedule.of(newPercent); // validates
        percent = newPercent;
        if (newPercent > 0 && thread == null) {
            thread = dev.vmm.threads.VmmThreads.start(dev.vmm.threads.ThreadKind.TIMER, "vcpu-throttle", this::loop);
        } else if (newPercent == 0 && thread != null) {
            thread.interrupt();
            thread = null;
        }
        notifyAll();
    }

    private void loop() {
        while (!Thread.currentThread().isInterrupted()) {
            int p = percent;
            if (p == 0) return;
            Schedule s = Schedule.of(p);
            for (Vcpu v : vcpus) v.sleepOnce(s.sleepNanos());
            LockSupport.parkNanos(s.periodNanos());
        }
    }

    @Override
    public void close() {
        set(0);
    }
}
