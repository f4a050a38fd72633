package dev.vmm.cpuhotplug;

/**
 * Where {@link CpuHotplug} gets its vCPUs: {@link KvmVcpuFactory} on a real machine, a recording
 * one in tests (the controller, its QMP and the guest's register dance need no KVM).
 */
public interface VcpuFactory {
    /**
     * Creates the vCPU of possible CPU {@code index} (or revives the one parked when that CPU was
     * ejected) and starts its thread waiting for the guest's INIT/SIPI. A host failure is a
     * RuntimeException with a message for the QMP client.
     */
    Plugged plug(int index);

    /** The host thread id of boot vCPU {@code index} (-1 before it has started). */
    int bootThreadId(int index);

    /** Closes the vCPUs parked after an eject (machine shutdown). */
    default void closeParked() {}

    /** A plugged vCPU. */
    interface Plugged {
        /** Host thread id of its vCPU thread (-1 if it has not started). */
        int threadId();

        /** The guest ejected it: stop the thread and park the vCPU for a later plug of the same CPU. */
        void unplug();
    }
}
