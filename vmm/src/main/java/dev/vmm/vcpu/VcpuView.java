package dev.vmm.vcpu;

/**
 * What the QMP diagnostics ({@code x-vmm-exit-counts}, {@code x-vmm-query-registers}) read of a
 * vCPU; {@link Vcpu} implements it. Read-only, so those commands can be driven without KVM.
 */
public interface VcpuView {
    /** The vCPU index (QMP's cpu-index). */
    int id();

    /** Exits handled so far, by KVM exit reason. */
    long[] exitCounts();

    /** Registers and segments, as text. */
    String registerDump();
}
