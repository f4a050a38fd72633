package dev.vmm.power;

import dev.vmm.lifecycle.Lifecycle;
import dev.vmm.lifecycle.RunState;

import java.util.Map;

/**
 * ACPI S3 and S4 as run states and events (QEMU's names): S3 parks the vCPUs, state
 * {@code suspended}, SUSPEND; {@link #wakeup} (QMP {@code system_wakeup}, or an RTC alarm) sets
 * WAK_STS, puts the boot processor at the FACS waking vector, state {@code running}, WAKEUP. S4
 * sends SUSPEND_DISK; the run then ends as a power-off ("guest hibernated (S4)", status 0, SHUTDOWN
 * guest-shutdown). No KVM here: what touches vCPUs is behind {@link Platform}.
 */
public final class GuestSleep {
    public static final String SUSPEND = "SUSPEND", WAKEUP = "WAKEUP", SUSPEND_DISK = "SUSPEND_DISK";
    /** The exit line of an S4 power-off. */
    public static final String HIBERNATED = "guest hibernated (S4)";
    /** QEMU's answer to system_wakeup when the guest is not suspended. */
    public static final String NOT_SUSPENDED = "Unable to wake up: guest is not in suspended state";

    /** What the machine does for a sleep state change (a fake in tests). */
    public interface Platform {
        /** Parks every vCPU (returns once they are outside KVM_RUN). */
        void parkVcpus() throws Exception;

        /** Where the guest resumes (read from its FACS). */
        WakeEntry wakeEntry();

        /** Sets the PM block's wake status (WAK_STS, RTC_STS when the alarm woke the guest). */
        void wakeStatus(boolean byRtc);

        /** Puts the boot processor at {@code entry} (the others wait for the OS's INIT-SIPI) and lets the vCPUs run. */
        void resumeAt(WakeEntry entry) throws Exception;

        /** The wake vector is unusable: the machine resets instead (what firmware does then). */
        void resetInstead(String why);
    }

    /** system_wakeup outside state suspended. */
    public static final class NotSuspended extends Exception {
        NotSuspended() {
            super(NOT_SUSPENDED);
        }
    }

    private final Lifecycle lifecycle;
    private final Platform platform;

    public GuestSleep(Lifecycle lifecycle, Platform platform) {
        this.lifecycle = lifecycle;
        this.platform = platform;
    }

    /** The guest entered S3 (on a thread that may park the vCPUs). Ignored unless running. */
    public synchronized void suspend() throws Exception {
        synchronized (lifecycle.states()) {
            if (lifecycle.state() != RunState.RUNNING) return;
            lifecycle.states().transition(RunState.SUSPENDED);
        }
        platform.parkVcpus();
        lifecycle.emit(SUSPEND, Map.of());
    }

    /** Whether the guest is in S3 now (what an RTC alarm may wake). */
    public boolean suspended() {
        return lifecycle.state() == RunState.SUSPENDED;
    }

    /** Resumes a suspended guest. */
    public synchronized void wakeup(boolean byRtc) throws NotSuspended {
        if (lifecycle.state() != RunState.SUSPENDED) throw new NotSuspended();
        WakeEntry entry;
        try {
            entry = platform.wakeEntry();
        } catch (IllegalStateException e) {
            platform.resetInstead("resume from S3 impossible: " + e.getMessage());
            return;
        }
        platform.wakeStatus(byRtc);
        try {
            platform.resumeAt(entry);
        } catch (Exception e) {
            platform.resetInstead("resume from S3 failed: " + e.getMessage());
            return;
        }
        lifecycle.states().transition(RunState.RUNNING);
        lifecycle.emit(WAKEUP, Map.of());
    }

    /** The guest entered S4: SUSPEND_DISK; the caller then ends the run as a power-off. */
    public void hibernate() {
        lifecycle.emit(SUSPEND_DISK, Map.of());
    }
}
