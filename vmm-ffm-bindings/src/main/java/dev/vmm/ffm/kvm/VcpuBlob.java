package dev.vmm.ffm.kvm;

import java.lang.foreign.StructLayout;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/**
 * The vCPU structures that snapshots and migration save and restore verbatim, as KVM's own bytes
 * ({@link VcpuFd#get}, {@link VcpuFd#set}): each with its {@code KVM_GET_x}/{@code KVM_SET_x} pair
 * and its layout (checked against the headers by {@code KvmHeaderProbeTest}).
 */
public enum VcpuBlob {
    REGS(KVM_GET_REGS, KVM_SET_REGS, KvmLayouts.KVM_REGS),
    SREGS(KVM_GET_SREGS, KVM_SET_SREGS, KvmLayouts.KVM_SREGS),
    FPU(KVM_GET_FPU, KVM_SET_FPU, KvmLayouts.KVM_FPU),
    XSAVE(KVM_GET_XSAVE, KVM_SET_XSAVE, KvmLayouts.KVM_XSAVE),
    XCRS(KVM_GET_XCRS, KVM_SET_XCRS, KvmLayouts.KVM_XCRS),
    LAPIC(KVM_GET_LAPIC, KVM_SET_LAPIC, KvmLayouts.KVM_LAPIC_STATE),
    VCPU_EVENTS(KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KvmLayouts.KVM_VCPU_EVENTS),
    DEBUGREGS(KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KvmLayouts.KVM_DEBUGREGS);

    final long getRequest;
    final long setRequest;
    final StructLayout layout;

    VcpuBlob(long getRequest, long setRequest, StructLayout layout) {
        this.getRequest = getRequest;
        this.setRequest = setRequest;
        this.layout = layout;
    }

    /** The structure's size in bytes (what {@link VcpuFd#get} returns and {@link VcpuFd#set} expects). */
    public int size() { return (int) layout.byteSize(); }

    String getName() { return "KVM_GET_" + name(); }

    String setName() { return "KVM_SET_" + name(); }
}
