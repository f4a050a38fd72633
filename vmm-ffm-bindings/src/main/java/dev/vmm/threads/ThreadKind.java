package dev.vmm.threads;

/**
 * What a VMM thread is for. Each kind does a known, small set of things (a vCPU thread runs
 * KVM_RUN and device emulation, an I/O thread submits io_uring requests, ...), which is what a
 * per-kind system-call filter can be built from.
 */
public enum ThreadKind {
    /** One per vCPU: KVM_RUN and the exits it dispatches. */
    VCPU,
    /** io_uring loops serving virtqueues, block completions and taps. */
    IO,
    /** Blocking block-layer and SCSI work off the I/O threads (qcow2, VHDX, VPC metadata). */
    BLOCK_WORKER,
    /** Live migration: RAM passes, dirty tracking, the return path, progress. */
    MIGRATION,
    /** The control socket (QMP) and what its commands start. */
    CONTROL,
    /** Terminal and console backends: stdin, console output, virtio-console sockets and files. */
    CONSOLE,
    /** Timers and pacing: rate limits, the auto-converge throttle. */
    TIMER
}
