package dev.vmm.vcpu;

import dev.vmm.ffm.kvm.CpuidEntries;

/**
 * Per-vCPU CPUID: the host's KVM-supported leaves adjusted so each vCPU reports its own APIC id
 * and a consistent topology of {@code cpus} cores in one socket, one thread per core, and the
 * hypervisor-present bit (so guests look for the KVM leaves at 0x40000000).
 */
public final class CpuTopology {
    private CpuTopology() {}

    /** KVM PV features (leaf 0x40000001 EAX) that the guest uses through hypercalls. */
    public static final int KVM_FEATURE_PV_UNHALT = 1 << 7, KVM_FEATURE_PV_SEND_IPI = 1 << 11,
            KVM_FEATURE_PV_SCHED_YIELD = 1 << 13;

    /**
     * Whether guest hypercalls work on this host. A PVM host emulates guest kernel code, and a guest
     * stuck in KVM_HC_SEND_IPI was observed there (vCPU 1 at kvm_hypercall4 for good, vCPU 0 spinning
     * in queued_spin_lock_slowpath: SMP boot hangs, as QEMU's does on the same host).
     */
    public static boolean hypercallsWork() {
        return !dev.vmm.ffm.kvm.Kvm.isPvmHost();
    }

    public static CpuidEntries forVcpu(CpuidEntries supported, int apicId, int cpus) {
        return forVcpu(supported, apicId, cpus, hypercallsWork());
    }

    public static CpuidEntries forVcpu(CpuidEntries supported, int apicId, int cpus, boolean hypercalls) {
        return forVcpu(supported, apicId, dev.vmm.smp.SmpTopology.of(cpus), hypercalls);
    }

    /**
     * The leaves of the vCPU with APIC id {@code apicId} in topology {@code topo} (issue 15): leaf 1
     * counts the logical processors of one package, leaf 4 its cores, leaf 0xB/0x1F gives the SMT and
     * core levels with the APIC-id shifts of {@link dev.vmm.smp.SmpTopology}, AMD's 0x80000008 and
     * 0x8000001E the same counts. {@code --cpus N} alone is N cores in one socket, as before.
     */
    public static CpuidEntries forVcpu(CpuidEntries supported, int apicId, dev.vmm.smp.SmpTopology topo, boolean hypercalls) {
        CpuidEntries c = supported.copy();
        addMissingTopologyLeaves(c);
        int perPackage = topo.threadsPerSocket(), threads = topo.threads();
        int packageShift = topo.socketShift(), threadShift = topo.threadBits();
        for (CpuidEntries.Entry e : c.entries()) {
            switch (e.function) {
                case 0x1 -> {
                    // EBX[23:16] counts logical CPUs only when HTT says it is valid (0 for one vCPU, as QEMU).
                    e.ebx = (e.ebx & 0x0000ffff) | (apicId << 24) | (perPackage > 1 ? Math.min(perPackage, 255) << 16 : 0);
                    e.ecx |= 1 << 31;                                  // hypervisor present
                    if (perPackage > 1) e.edx |= 1 << 28; else e.edx &= ~(1 << 28); // HTT: more than one logical CPU
                }
                case 0x4 -> {
                    // Deterministic cache parameters: cores per package - 1 in EAX[31:26].
                    if ((e.eax & 0x1f) != 0) e.eax = (e.eax & 0x03ffffff) | ((topo.dies() * topo.cores() - 1) << 26);
                }
                case 0xb, 0x1f -> {
                    // Extended topology: level 0 = SMT (threads per core), level 1 = core (logical CPUs per package).
                    e.edx = apicId;
                    if (e.index == 0) {
                        e.eax = threadShift; e.ebx = threads; e.ecx = (1 << 8);
                    } else if (e.index == 1) {
                        e.eax = packageShift; e.ebx = perPackage; e.ecx = (2 << 8) | 1;
                    } else {
                        e.eax = 0; e.ebx = 0; e.ecx = e.index;
                    }
                }
                // AMD: ECX[7:0] = logical CPUs per package - 1, ECX[15:12] = APIC-id bits below the package (0 = legacy rule).
                case 0x80000008 -> e.ecx = (e.ecx & ~0xf0ff) | ((perPackage - 1) & 0xff) | ((packageShift & 0xf) << 12);
                case 0x8000001e -> {
                    // AMD TOPOEXT: without this the host's "2 threads per core" leaks through, Linux divides
                    // the cores by 2 and reports twice as many packages as there are (one per vCPU pair).
                    e.eax = apicId;                     // extended APIC id
                    e.ebx = ((apicId >>> threadShift) & 0xff) | ((threads - 1) << 8); // core id; threads per core - 1
                    e.ecx = 0;                          // node 0, one node per processor
                    e.edx = 0;
                }
                case 0x40000001 -> {
                    // Without working hypercalls the guest must use plain IPIs, HLT and yields.
                    if (!hypercalls) e.eax &= ~(KVM_FEATURE_PV_UNHALT | KVM_FEATURE_PV_SEND_IPI | KVM_FEATURE_PV_SCHED_YIELD);
                }
                default -> { }
            }
        }
        return c;
    }

    /**
     * KVM_GET_SUPPORTED_CPUID may list leaf 0xB with subleaf 0 only and leave out AMD's 0x8000001E
     * (seen on this project's host: the guest then read zeros for both, took a 0-bit APIC-id shift
     * to the package from leaf 0xB, and Linux put every vCPU in a package of its own). Adds the
     * entries the guest will read, when the leaf is in range (and, for 0x8000001E, TOPOEXT is
     * offered), for {@link #forVcpu} to fill in.
     */
    private static void addMissingTopologyLeaves(CpuidEntries c) {
        CpuidEntries.Entry basic = c.find(0, 0), ext = c.find(0x80000000, 0), ext1 = c.find(0x80000001, 0);
        int indexed = dev.vmm.ffm.kvm.KvmIoctls.KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        if (basic != null && Integer.compareUnsigned(basic.eax, 0xb) >= 0) {
            for (int sub = 0; sub <= 1; sub++) {
                if (!hasSubleaf(c, 0xb, sub)) c.entries().add(new CpuidEntries.Entry(0xb, sub, indexed, 0, 0, 0, 0));
            }
            for (CpuidEntries.Entry e : c.entries()) if (e.function == 0xb) e.flags |= indexed;
        }
        boolean topoext = ext1 != null && (ext1.ecx & (1 << 22)) != 0;
        if (topoext && ext != null && Integer.compareUnsigned(ext.eax, 0x8000001e) >= 0 && c.find(0x8000001e, 0) == null) {
            c.entries().add(new CpuidEntries.Entry(0x8000001e, 0, 0, 0, 0, 0, 0));
        }
    }

    private static boolean hasSubleaf(CpuidEntries c, int function, int index) {
        for (CpuidEntries.Entry e : c.entries()) if (e.function == function && e.index == index) return true;
        return false;
    }

    /** The vendor string of leaf 0 ("GenuineIntel", "AuthenticAMD", ...). */
    public static String vendor(CpuidEntries cpuid) {
        CpuidEntries.Entry e = cpuid.find(0, 0);
        if (e == null) return "unknown";
        byte[] b = new byte[12];
        int[] regs = {e.ebx, e.edx, e.ecx};
        for (int r = 0; r < 3; r++) for (int i = 0; i < 4; i++) b[r * 4 + i] = (byte) (regs[r] >>> (8 * i));
        return new String(b, java.nio.charset.StandardCharsets.US_ASCII);
    }
}
