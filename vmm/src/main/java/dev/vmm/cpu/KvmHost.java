package dev.vmm.cpu;

import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.Kvm;
import dev.vmm.ffm.kvm.KvmIoctls;
import dev.vmm.ffm.kvm.VcpuFd;

import java.util.HashMap;
import java.util.Map;

import static dev.vmm.ffm.kvm.KvmIoctls.*;

/** Reads what {@link CpuResolver} needs from this host's KVM, and enables per-vCPU capabilities. */
public final class KvmHost {
    private KvmHost() {}

    private static final int[] CAPS = {KVM_CAP_HYPERV, KVM_CAP_HYPERV_VAPIC, KVM_CAP_HYPERV_SPIN, KVM_CAP_TSC_DEADLINE_TIMER,
            KVM_CAP_HYPERV_TIME, KVM_CAP_HYPERV_SYNIC, KVM_CAP_HYPERV_VP_INDEX, KVM_CAP_HYPERV_SYNIC2, KVM_CAP_HYPERV_TLBFLUSH,
            KVM_CAP_HYPERV_SEND_IPI, KVM_CAP_HYPERV_CPUID, KVM_CAP_SYS_HYPERV_CPUID, KVM_CAP_HYPERV_ENFORCE_CPUID};

    /** The host as data: KVM_GET_SUPPORTED_CPUID, capabilities, Hyper-V leaves. */
    public static CpuResolver.Host read(Kvm kvm, CpuidEntries supported) {
        Map<Integer, Integer> caps = new HashMap<>();
        for (int c : CAPS) caps.put(c, kvm.checkExtension(c));
        CpuidEntries hv = null;
        if (caps.get(KVM_CAP_SYS_HYPERV_CPUID) > 0) {
            try {
                hv = kvm.supportedHvCpuid();
            } catch (dev.vmm.ffm.NativeException e) {
                // Treated as a host that cannot list its Hyper-V features: only hv-* flags care.
            }
        }
        return new CpuResolver.Host(supported, Kvm.isPvmHost(), c -> caps.getOrDefault(c, 0), hv);
    }

    /** What each vCPU must enable before KVM_SET_CPUID2 for the resolved Hyper-V flags. */
    public static void enableOn(VcpuFd fd, CpuResolver.Resolved cpu) {
        if (cpu.needsSynic()) fd.enableCap(KvmIoctls.KVM_CAP_HYPERV_SYNIC2);
    }
}
