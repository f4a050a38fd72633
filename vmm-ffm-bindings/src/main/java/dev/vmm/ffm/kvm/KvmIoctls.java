package dev.vmm.ffm.kvm;

import dev.vmm.ffm.Ioctl;

import java.lang.foreign.MemoryLayout;
import java.util.Map;

import static dev.vmm.ffm.kvm.KvmLayouts.*;

/**
 * KVM ioctl request numbers and constants, computed the way {@code <asm-generic/ioctl.h>} does
 * from the structure sizes in {@link KvmLayouts}; {@code KvmHeaderProbeTest} checks every value
 * here against the C headers.
 */
public final class KvmIoctls {
    private KvmIoctls() {}

    private static final int KVMIO = 0xAE;

    private static long io(int nr) { return Ioctl.io(KVMIO, nr); }
    private static long ior(int nr, MemoryLayout l) { return Ioctl.ior(KVMIO, nr, l.byteSize()); }
    private static long iow(int nr, MemoryLayout l) { return Ioctl.iow(KVMIO, nr, l.byteSize()); }
    private static long iowr(int nr, MemoryLayout l) { return Ioctl.iowr(KVMIO, nr, l.byteSize()); }
    private static long iow(int nr, long size) { return Ioctl.iow(KVMIO, nr, size); }

    // system ioctls
    public static final long KVM_GET_API_VERSION = io(0x00);
    public static final long KVM_CREATE_VM = io(0x01);
    public static final long KVM_GET_MSR_INDEX_LIST = iowr(0x02, KVM_MSR_LIST);
    public static final long KVM_CHECK_EXTENSION = io(0x03);
    public static final long KVM_GET_VCPU_MMAP_SIZE = io(0x04);
    public static final long KVM_GET_SUPPORTED_CPUID = iowr(0x05, KVM_CPUID2);
    /** System ioctl with KVM_CAP_SYS_HYPERV_CPUID, vCPU ioctl with KVM_CAP_HYPERV_CPUID. */
    public static final long KVM_GET_SUPPORTED_HV_CPUID = iowr(0xc1, KVM_CPUID2);
    // VM ioctls
    public static final long KVM_CREATE_VCPU = io(0x41);
    public static final long KVM_GET_DIRTY_LOG = iow(0x42, KVM_DIRTY_LOG);
    public static final long KVM_SET_USER_MEMORY_REGION = iow(0x46, KVM_USERSPACE_MEMORY_REGION);
    public static final long KVM_SET_TSS_ADDR = io(0x47);
    public static final long KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
    public static final long KVM_CREATE_IRQCHIP = io(0x60);
    public static final long KVM_IRQ_LINE = iow(0x61, KVM_IRQ_LEVEL);
    public static final long KVM_GET_IRQCHIP = iowr(0x62, KVM_IRQCHIP);
    public static final long KVM_SET_IRQCHIP = ior(0x63, KVM_IRQCHIP);
    public static final long KVM_IRQ_LINE_STATUS = iowr(0x67, KVM_IRQ_LEVEL);
    public static final long KVM_SET_GSI_ROUTING = iow(0x6a, KVM_IRQ_ROUTING);
    public static final long KVM_IRQFD = iow(0x76, KvmLayouts.KVM_IRQFD);
    public static final long KVM_CREATE_PIT2 = iow(0x77, KVM_PIT_CONFIG);
    public static final long KVM_IOEVENTFD = iow(0x79, KvmLayouts.KVM_IOEVENTFD);
    public static final long KVM_SET_CLOCK = iow(0x7b, KVM_CLOCK_DATA);
    public static final long KVM_GET_CLOCK = ior(0x7c, KVM_CLOCK_DATA);
    public static final long KVM_GET_PIT2 = ior(0x9f, KVM_PIT_STATE2);
    public static final long KVM_SET_PIT2 = iow(0xa0, KVM_PIT_STATE2);
    public static final long KVM_ENABLE_CAP = iow(0xa3, KvmLayouts.KVM_ENABLE_CAP);
    public static final long KVM_SIGNAL_MSI = iow(0xa5, KVM_MSI);
    public static final long KVM_RESET_DIRTY_RINGS = io(0xc7);
    // vCPU ioctls
    public static final long KVM_RUN = io(0x80);
    public static final long KVM_GET_REGS = ior(0x81, KVM_REGS);
    public static final long KVM_SET_REGS = iow(0x82, KVM_REGS);
    public static final long KVM_GET_SREGS = ior(0x83, KVM_SREGS);
    public static final long KVM_SET_SREGS = iow(0x84, KVM_SREGS);
    public static final long KVM_GET_MSRS = iowr(0x88, KVM_MSRS);
    public static final long KVM_SET_MSRS = iow(0x89, KVM_MSRS);
    public static final long KVM_GET_FPU = ior(0x8c, KVM_FPU);
    public static final long KVM_SET_FPU = iow(0x8d, KVM_FPU);
    public static final long KVM_GET_LAPIC = ior(0x8e, KVM_LAPIC_STATE);
    public static final long KVM_SET_LAPIC = iow(0x8f, KVM_LAPIC_STATE);
    public static final long KVM_SET_CPUID2 = iow(0x90, KVM_CPUID2);
    public static final long KVM_GET_CPUID2 = iowr(0x91, KVM_CPUID2);
    public static final long KVM_GET_MP_STATE = ior(0x98, KVM_MP_STATE);
    public static final long KVM_SET_MP_STATE = iow(0x99, KVM_MP_STATE);
    public static final long KVM_GET_VCPU_EVENTS = ior(0x9f, KVM_VCPU_EVENTS);
    public static final long KVM_SET_VCPU_EVENTS = iow(0xa0, KVM_VCPU_EVENTS);
    public static final long KVM_GET_DEBUGREGS = ior(0xa1, KVM_DEBUGREGS);
    public static final long KVM_SET_DEBUGREGS = iow(0xa2, KVM_DEBUGREGS);
    public static final long KVM_GET_XSAVE = ior(0xa4, KVM_XSAVE);
    public static final long KVM_SET_XSAVE = iow(0xa5, KVM_XSAVE);
    public static final long KVM_GET_XCRS = ior(0xa6, KVM_XCRS);
    public static final long KVM_SET_XCRS = iow(0xa7, KVM_XCRS);
    public static final long KVM_KVMCLOCK_CTRL = io(0xad);
    public static final long KVM_SET_TSC_KHZ = io(0xa2);
    public static final long KVM_GET_TSC_KHZ = io(0xa3);

    // exit reasons
    public static final int KVM_EXIT_UNKNOWN = 0, KVM_EXIT_EXCEPTION = 1, KVM_EXIT_IO = 2, KVM_EXIT_HYPERCALL = 3,
            KVM_EXIT_DEBUG = 4, KVM_EXIT_HLT = 5, KVM_EXIT_MMIO = 6, KVM_EXIT_IRQ_WINDOW_OPEN = 7,
            KVM_EXIT_SHUTDOWN = 8, KVM_EXIT_FAIL_ENTRY = 9, KVM_EXIT_INTR = 10, KVM_EXIT_SET_TPR = 11,
            KVM_EXIT_TPR_ACCESS = 12, KVM_EXIT_NMI = 16, KVM_EXIT_INTERNAL_ERROR = 17,
            KVM_EXIT_SYSTEM_EVENT = 24, KVM_EXIT_IOAPIC_EOI = 26, KVM_EXIT_X86_RDMSR = 29, KVM_EXIT_X86_WRMSR = 30,
            KVM_EXIT_DIRTY_RING_FULL = 31, KVM_EXIT_X86_BUS_LOCK = 33, KVM_EXIT_NOTIFY = 37;
    public static final int KVM_EXIT_IO_IN = 0, KVM_EXIT_IO_OUT = 1;
    public static final int KVM_INTERNAL_ERROR_EMULATION = 1, KVM_INTERNAL_ERROR_SIMUL_EX = 2,
            KVM_INTERNAL_ERROR_DELIVERY_EV = 3, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
    public static final int KVM_SYSTEM_EVENT_SHUTDOWN = 1, KVM_SYSTEM_EVENT_RESET = 2, KVM_SYSTEM_EVENT_CRASH = 3;

    // capabilities
    public static final int KVM_CAP_IRQCHIP = 0, KVM_CAP_HLT = 1, KVM_CAP_USER_MEMORY = 3, KVM_CAP_SET_TSS_ADDR = 4,
            KVM_CAP_EXT_CPUID = 7, KVM_CAP_NR_VCPUS = 9, KVM_CAP_NR_MEMSLOTS = 10, KVM_CAP_PIT = 11,
            KVM_CAP_MP_STATE = 14, KVM_CAP_IRQ_ROUTING = 25, KVM_CAP_IRQ_INJECT_STATUS = 26,
            KVM_CAP_SET_IDENTITY_MAP_ADDR = 37, KVM_CAP_ADJUST_CLOCK = 39, KVM_CAP_IRQFD = 32,
            KVM_CAP_PIT2 = 33, KVM_CAP_SET_BOOT_CPU_ID = 34, KVM_CAP_IOEVENTFD = 36, KVM_CAP_VCPU_EVENTS = 41,
            KVM_CAP_PIT_STATE2 = 35, KVM_CAP_DEBUGREGS = 50, KVM_CAP_XSAVE = 55, KVM_CAP_XCRS = 56,
            KVM_CAP_TSC_CONTROL = 60, KVM_CAP_SIGNAL_MSI = 77, KVM_CAP_MAX_VCPUS = 66,
            KVM_CAP_READONLY_MEM = 81, KVM_CAP_IMMEDIATE_EXIT = 136, KVM_CAP_X2APIC_API = 129,
            KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168, KVM_CAP_DIRTY_LOG_RING = 192, KVM_CAP_SPLIT_IRQCHIP = 121;
    // Hyper-V emulation and CPUID-related capabilities
    public static final int KVM_CAP_HYPERV = 44, KVM_CAP_HYPERV_VAPIC = 45, KVM_CAP_HYPERV_SPIN = 46,
            KVM_CAP_TSC_DEADLINE_TIMER = 72, KVM_CAP_HYPERV_TIME = 96, KVM_CAP_HYPERV_SYNIC = 123,
            KVM_CAP_HYPERV_VP_INDEX = 149, KVM_CAP_HYPERV_SYNIC2 = 148, KVM_CAP_HYPERV_TLBFLUSH = 155,
            KVM_CAP_HYPERV_SEND_IPI = 161, KVM_CAP_HYPERV_CPUID = 167, KVM_CAP_SYS_HYPERV_CPUID = 191,
            KVM_CAP_HYPERV_ENFORCE_CPUID = 199;

    // flags and misc
    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1, KVM_MEM_READONLY = 2;
    public static final int KVM_IRQFD_FLAG_DEASSIGN = 1, KVM_IRQFD_FLAG_RESAMPLE = 2;
    public static final int KVM_IOEVENTFD_FLAG_DATAMATCH = 1, KVM_IOEVENTFD_FLAG_PIO = 2, KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
    public static final int KVM_IRQ_ROUTING_IRQCHIP = 1, KVM_IRQ_ROUTING_MSI = 2;
    public static final int KVM_IRQCHIP_PIC_MASTER = 0, KVM_IRQCHIP_PIC_SLAVE = 1, KVM_IRQCHIP_IOAPIC = 2;
    public static final int KVM_PIT_SPEAKER_DUMMY = 1;
    public static final int KVM_MP_STATE_RUNNABLE = 0, KVM_MP_STATE_UNINITIALIZED = 1, KVM_MP_STATE_INIT_RECEIVED = 2,
            KVM_MP_STATE_HALTED = 3, KVM_MP_STATE_SIPI_RECEIVED = 4;
    public static final int KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
    public static final int KVM_CLOCK_TSC_STABLE = 2;

    /** Every public long/int constant by name, for the header probe test. */
    public static Map<String, Long> all() {
        return dev.vmm.ffm.HeaderFacts.constants(KvmIoctls.class, name -> true);
    }
}
