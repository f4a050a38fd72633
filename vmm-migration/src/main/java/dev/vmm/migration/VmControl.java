package dev.vmm.migration;

import dev.vmm.migration.stream.StateWriter;

/** What the migration source needs from the VM it migrates; implemented by the VMM. */
public interface VmControl {
    /** Stops every vCPU and waits until none runs guest code (start of stop-and-copy). */
    void pause() throws Exception;

    /** Lets the vCPUs run again: called when a migration fails or is cancelled after {@link #pause()}. */
    void resume();

    /**
     * Writes everything but RAM (VM, vCPUs, devices) as sections of {@code w}; the VM is paused.
     * Do not close {@code w}: the engine ends the stream.
     */
    void writeDeviceState(StateWriter w) throws Exception;

    /**
     * Runs the stop-and-copy steps once at setup, off the clock: pause, quiesce, capture the device
     * state into nothing, resume. In a JVM the first run of that code pays for class loading,
     * native-call linkage and the interpreter — measured 50-100 ms, which would otherwise all be
     * downtime. Costs the guest one short pause at setup (reported as {@code x-setup-pause}).
     * The default does nothing.
     */
    default void rehearse() throws Exception { }

    /**
     * Auto-converge: make the vCPUs sleep {@code percent}% of the time (0 = no throttling). Called
     * from the migration thread; the default ignores it (auto-converge then has no effect).
     */
    default void throttle(int percent) { }

    /**
     * The destination has everything (READY) and starts on the GO sent right after this call:
     * release what it must take over, e.g. disk image locks (after making the writes durable).
     * Called on the migration thread with the VM paused. An exception is recorded in
     * {@code error-desc}; GO is sent anyway (the destination has the VM; the source stays paused).
     */
    default void handOver() throws Exception { }
}
