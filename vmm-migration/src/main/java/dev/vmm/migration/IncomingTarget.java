package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.migration.stream.StateReader;

/** The destination VM of an incoming migration (created paused, with its RAM); implemented by the VMM. */
public interface IncomingTarget {
    /** Guest RAM to fill; its regions must have the source's bases and sizes. */
    GuestMemory memory();

    /**
     * Loads the device state the source's {@link VmControl#writeDeviceState} wrote: typically
     * {@code reader.readAll(handler)} with the snapshot handler for VM, vCPU and device sections.
     * Throw (e.g. {@link dev.vmm.migration.stream.StateFormatException}) to refuse it.
     */
    void loadDeviceState(StateReader reader) throws Exception;

    /**
     * Called once before the stream is read, while waiting for the source: warm up the code that
     * {@link #loadDeviceState} runs at the switch-over (e.g. save this machine's own state and load
     * it back), so its first-run cost in the JVM is not paid in the downtime. The default does nothing.
     * (Named apart from {@link VmControl#rehearse}, the source's rehearsal, so that one adapter can
     * implement both interfaces for a machine.)
     */
    default void rehearseLoad() throws Exception { }

    /** Everything arrived and the source gave up the VM: run the vCPUs. */
    void start() throws Exception;

    /**
     * The migration failed: whatever was received must not run. Called at most once, instead of
     * {@link #start()}; the VMM typically exits or rebuilds the machine.
     */
    default void discard(Throwable cause) { }
}
