package dev.vmm.vcpu;

/** Where a vCPU reports that the machine must stop. Implemented by the machine. */
public interface VcpuExitHandler {
    /** Called once per event from a vCPU thread; the first call wins. */
    void vmExit(VmExit exit);
}
