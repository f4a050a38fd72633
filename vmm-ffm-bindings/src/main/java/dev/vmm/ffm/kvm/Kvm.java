package dev.vmm.ffm.kvm;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static dev.vmm.ffm.kvm.KvmIoctls.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** The {@code /dev/kvm} system fd: capabilities, supported CPUID/MSRs, VM creation. */
public final class Kvm implements AutoCloseable {
    /** The only KVM API version there has ever been. */
    public static final int API_VERSION = 12;

    private final int fd;

    private Kvm(int fd) {
        this.fd = fd;
    }

    /** Opens /dev/kvm and checks the API version; the error says what is wrong in one line. */
    public static Kvm open() {
        int fd;
        try {
            fd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        } catch (NativeException e) {
            throw new KvmUnavailableException("cannot open /dev/kvm: " + Libc.strerror(e.errno())
                    + " (is KVM enabled and are you allowed to use it?)", e);
        }
        Kvm kvm = new Kvm(fd);
        int v = Libc.ioctl(fd, "KVM_GET_API_VERSION", KVM_GET_API_VERSION, 0L);
        if (v != API_VERSION) {
            kvm.close();
            throw new KvmUnavailableException("/dev/kvm speaks API version " + v + ", expected " + API_VERSION, null);
        }
        return kvm;
    }

    public int fd() { return fd; }

    /**
     * Whether KVM here is the PVM hypervisor (no VT-x/SVM: guest kernel code is emulated). Several
     * things differ on such a host: hypercalls do not work and the dirty log misses emulated writes.
     */
    public static boolean isPvmHost() {
        return java.nio.file.Files.exists(java.nio.file.Path.of("/sys/module/kvm_pvm"));
    }

    /** KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value. */
    public int checkExtension(int cap) {
        int r = Libc.ioctlRaw(fd, KVM_CHECK_EXTENSION, cap);
        return Math.max(r, 0);
    }

    public long vcpuMmapSize() {
        return Libc.ioctl(fd, "KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE, 0L);
    }

    /** KVM_CREATE_VM with the default machine type. */
    public VmFd createVm() {
        int vmfd = Libc.ioctl(fd, "KVM_CREATE_VM", KVM_CREATE_VM, 0L);
        return new VmFd(this, vmfd);
    }

    /** KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits (E2BIG). */
    public CpuidEntries supportedCpuid() {
        for (int n = 64; n <= 4096; n *= 2) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = CpuidEntries.allocate(a, n);
                int r = Libc.ioctlRaw(fd, KVM_GET_SUPPORTED_CPUID, buf);
                if (r == -7 /* E2BIG */) continue;
                if (r < 0) throw new NativeException("KVM_GET_SUPPORTED_CPUID", -r);
                return CpuidEntries.fromKvm(buf);
            }
        }
        throw new IllegalStateException("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
    }

    /**
     * KVM_GET_SUPPORTED_HV_CPUID on /dev/kvm (needs KVM_CAP_SYS_HYPERV_CPUID): the Hyper-V leaves
     * 0x40000000.. KVM can emulate on this host.
     */
    public CpuidEntries supportedHvCpuid() {
        return getCpuid(fd, "KVM_GET_SUPPORTED_HV_CPUID", KVM_GET_SUPPORTED_HV_CPUID);
    }

    /** KVM_ENABLE_CAP on a VM or vCPU fd: the capability and up to four arguments. */
    static void enableCap(int fd, int cap, long... args) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmLayouts.KVM_ENABLE_CAP);
            s.set(JAVA_INT, 0, cap);
            for (int i = 0; i < args.length && i < 4; i++) s.set(JAVA_LONG, 8 + 8L * i, args[i]);
            Libc.ioctl(fd, "KVM_ENABLE_CAP", KVM_ENABLE_CAP, s);
        }
    }

    /** A KVM_CPUID2-returning ioctl on {@code fd}, growing the buffer until it fits (E2BIG). */
    static CpuidEntries getCpuid(int fd, String name, long request) {
        for (int n = 64; n <= 4096; n *= 2) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = CpuidEntries.allocate(a, n);
                int r = Libc.ioctlRaw(fd, request, buf);
                if (r == -7 /* E2BIG */) continue;
                if (r < 0) throw new NativeException(name, -r);
                return CpuidEntries.fromKvm(buf);
            }
        }
        throw new IllegalStateException(name + ": more than 4096 entries");
    }

    /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves/restores for a vCPU. */
    public List<Integer> msrIndexList() {
        for (int n = 64; n <= 4096; n *= 2) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(4L + 4L * n, 4);
                buf.set(JAVA_INT, 0, n);
                int r = Libc.ioctlRaw(fd, KVM_GET_MSR_INDEX_LIST, buf);
                if (r == -7) continue;
                if (r < 0) throw new NativeException("KVM_GET_MSR_INDEX_LIST", -r);
                int count = buf.get(JAVA_INT, 0);
                List<Integer> out = new ArrayList<>(count);
                for (int i = 0; i < count; i++) out.add(buf.get(JAVA_INT, 4L + 4L * i));
                return out;
            }
        }
        throw new IllegalStateException("KVM_GET_MSR_INDEX_LIST: more than 4096 entries");
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
