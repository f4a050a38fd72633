package dev.vmm.vcpu;

import dev.vmm.chipset.bus.Bus;
import dev.vmm.ffm.kvm.CpuidEntries;
import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.smp.SmpTopology;

import java.util.List;

/**
 * Creates a vCPU as every vCPU of the machine gets it, boot or hot-plugged: KVM vCPU with the APIC
 * id of its place in the topology (KVM's vcpu id is the initial APIC id), the CPU model's
 * capabilities and its CPUID, the boot MSRs, FPU and LAPIC wiring. The one path for both, so a
 * hot-added CPU is indistinguishable from a boot one.
 */
public record VcpuMaker(VmFd vm, dev.vmm.cpu.CpuResolver.Resolved cpu, SmpTopology topology, Bus pio, Bus mmio,
                        VcpuExitHandler exits, VcpuGate gate) {
    /** A new KVM vCPU for possible CPU {@code index}; {@code refusedMsrs} receives the MSRs the host refused. */
    public VcpuFd create(int index, List<String> refusedMsrs) {
        int apicId = topology.apicId(index);
        VcpuFd fd = vm.createVcpu(apicId);
        dev.vmm.cpu.KvmHost.enableOn(fd, cpu);
        fd.setCpuid(CpuTopology.forVcpu(cpu.cpuid(), apicId, topology, true));
        initialise(fd, refusedMsrs);
        return fd;
    }

    /** The architectural start state (MSRs, FPU, LAPIC); also what a parked vCPU gets again when it is plugged anew. */
    public void initialise(VcpuFd fd, List<String> refusedMsrs) {
        refusedMsrs.addAll(VcpuSetup.setupMsrs(fd));
        VcpuSetup.setupFpu(fd);
        VcpuSetup.setupLapic(fd);
    }

    /** The run loop of {@code fd} (a fresh one each time the vCPU is plugged). */
    public Vcpu loop(VcpuFd fd) {
        return new Vcpu(fd, pio, mmio, exits, gate);
    }

    public CpuidEntries cpuid() { return cpu.cpuid(); }
}
