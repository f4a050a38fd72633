package dev.vmm.ahci;

import java.util.Objects;
import java.util.concurrent.Executor;

/**
 * Where an AHCI port runs its commands: the seam between the register state machine (on vCPU
 * threads, never blocking) and command execution (guest-memory walking, block reads and writes).
 *
 * <p>A port hands one job at a time to {@link #submit}; the job executes the port's issued commands
 * one after the other and sets the completion registers itself (under the port's lock), so it may
 * run on any thread. The VMM passes an executor backed by its I/O worker pool; tests pass
 * {@link #inline()} (the job runs inside the guest's register write, deterministic) or a real
 * thread through {@link #of(Executor)}.
 */
@FunctionalInterface
public interface AhciIo {
    /** Runs {@code job} now or later, on this or another thread. Must not throw. */
    void submit(Runnable job);

    /** Runs every job synchronously in the submitting thread (tests, fuzzing). */
    static AhciIo inline() {
        return Runnable::run;
    }

    /** Runs jobs on {@code executor} (an I/O worker pool, a single I/O thread...). */
    static AhciIo of(Executor executor) {
        Objects.requireNonNull(executor);
        return executor::execute;
    }
}
