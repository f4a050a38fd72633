package dev.vmm.ffm.kvm;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static dev.vmm.ffm.kvm.KvmIoctls.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A vCPU fd and its mapped {@code kvm_run} page. Register accessors allocate (they are used at
 * boot, on errors and for snapshots); {@link #run()} does not (it is the hot path).
 */
public final class VcpuFd implements AutoCloseable {
    private final VmFd vm;
    private final int fd;
    private final int id;
    private final MemorySegment runMapping;
    private final KvmRun run;

    VcpuFd(VmFd vm, int fd, int id, long mmapSize) {
        this.vm = vm;
        this.fd = fd;
        this.id = id;
        this.runMapping = Libc.mmap(MemorySegment.NULL, mmapSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        this.run = new KvmRun(runMapping);
    }

    public int fd() { return fd; }

    public int id() { return id; }

    public VmFd vm() { return vm; }

    public KvmRun kvmRun() { return run; }

    /**
     * KVM_RUN. Returns 0 when the vCPU exited (read {@link KvmRun#exitReason()}), or {@code -errno}:
     * {@code -EINTR} when a signal or immediate_exit interrupted it, {@code -EAGAIN} is retried by callers.
     */
    public int run() {
        return Libc.ioctlRaw(fd, KVM_RUN, 0L);
    }

    public Regs getRegs() {
        return StructIoctl.read(fd, "KVM_GET_REGS", KVM_GET_REGS, KvmLayouts.KVM_REGS, Regs::read);
    }

    public void setRegs(Regs r) {
        StructIoctl.send(fd, "KVM_SET_REGS", KVM_SET_REGS, KvmLayouts.KVM_REGS, r::write);
    }

    public Sregs getSregs() {
        return StructIoctl.read(fd, "KVM_GET_SREGS", KVM_GET_SREGS, KvmLayouts.KVM_SREGS, Sregs::read);
    }

    public void setSregs(Sregs r) {
        StructIoctl.send(fd, "KVM_SET_SREGS", KVM_SET_SREGS, KvmLayouts.KVM_SREGS, r::write);
    }

    public void setCpuid(CpuidEntries cpuid) {
        try (Arena a = Arena.ofConfined()) {
            Libc.ioctl(fd, "KVM_SET_CPUID2", KVM_SET_CPUID2, cpuid.toKvm(a));
        }
    }

    /** KVM_GET_SUPPORTED_HV_CPUID on this vCPU (needs KVM_CAP_HYPERV_CPUID). */
    public CpuidEntries supportedHvCpuid() {
        return Kvm.getCpuid(fd, "KVM_GET_SUPPORTED_HV_CPUID", KVM_GET_SUPPORTED_HV_CPUID);
    }

    /** KVM_ENABLE_CAP on this vCPU (e.g. KVM_CAP_HYPERV_SYNIC2 before the guest uses SynIC). */
    public void enableCap(int cap, long... args) {
        Kvm.enableCap(fd, cap, args);
    }

    /** One MSR index/value pair. */
    public record Msr(int index, long data) {}

    /** KVM_SET_MSRS; throws unless every MSR was accepted. */
    public void setMsrs(List<Msr> msrs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = msrBuffer(a, msrs);
            int n = Libc.ioctl(fd, "KVM_SET_MSRS", KVM_SET_MSRS, s);
            if (n != msrs.size()) {
                throw new NativeException(String.format("KVM_SET_MSRS (MSR 0x%x refused)", msrs.get(n).index()), 22);
            }
        }
    }

    /** KVM_GET_MSRS for the given indices; returns the ones KVM answered. */
    public List<Msr> getMsrs(List<Integer> indices) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = msrBuffer(a, indices.stream().map(i -> new Msr(i, 0)).toList());
            int n = Libc.ioctl(fd, "KVM_GET_MSRS", KVM_GET_MSRS, s);
            Msr[] out = new Msr[n];
            for (int i = 0; i < n; i++) {
                long o = 8 + 16L * i;
                out[i] = new Msr(s.get(JAVA_INT, o), s.get(JAVA_LONG, o + 8));
            }
            return List.of(out);
        }
    }

    private static MemorySegment msrBuffer(Arena a, List<Msr> msrs) {
        MemorySegment s = a.allocate(8 + 16L * msrs.size(), 8);
        s.set(JAVA_INT, 0, msrs.size());
        for (int i = 0; i < msrs.size(); i++) {
            long o = 8 + 16L * i;
            s.set(JAVA_INT, o, msrs.get(i).index());
            s.set(JAVA_LONG, o + 8, msrs.get(i).data());
        }
        return s;
    }

    /** KVM_GET_MP_STATE (RUNNABLE, UNINITIALIZED, INIT_RECEIVED, HALTED, SIPI_RECEIVED). */
    public int getMpState() {
        return StructIoctl.read(fd, "KVM_GET_MP_STATE", KVM_GET_MP_STATE, KvmLayouts.KVM_MP_STATE, s -> s.get(JAVA_INT, 0));
    }

    public void setMpState(int state) {
        StructIoctl.write(fd, "KVM_SET_MP_STATE", KVM_SET_MP_STATE, KvmLayouts.KVM_MP_STATE, state);
    }

    /** Reads one whole-struct state as KVM's bytes: what snapshots and migration save verbatim. */
    public byte[] get(VcpuBlob blob) {
        return StructIoctl.get(fd, blob.getName(), blob.getRequest, blob.layout.byteSize(), -1);
    }

    /** Writes back a state read with {@link #get}. */
    public void set(VcpuBlob blob, byte[] b) {
        StructIoctl.set(fd, blob.setName(), blob.setRequest, b);
    }

    /** KVM_KVMCLOCK_CTRL: tells the guest it was paused (avoids soft-lockup warnings). */
    public boolean kvmclockCtrl() {
        return Libc.ioctlRaw(fd, KVM_KVMCLOCK_CTRL, 0L) == 0;
    }



    @Override
    public void close() {
        try {
            Libc.munmap(runMapping);
            Libc.close(fd);
        } catch (NativeException ignored) {
            // shutdown path
        }
    }
}
