package dev.vmm.ffm.kvm;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.util.Map;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static dev.vmm.ffm.CMembers.bytes;
import static dev.vmm.ffm.CMembers.u16;
import static dev.vmm.ffm.CMembers.u32;
import static dev.vmm.ffm.CMembers.u64;
import static dev.vmm.ffm.CMembers.u8;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.MemoryLayout.unionLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Layouts of the {@code <linux/kvm.h>} structures, written in jextract's style: member names are
 * the C member names, so {@code KvmHeaderProbeTest} can check every size and offset against the
 * system's headers with a generated C program. Members of anonymous C unions sit in a union
 * named with a leading {@code $}, which the probe leaves out of the C member path.
 */
public final class KvmLayouts {
    private KvmLayouts() {}

    public static final StructLayout KVM_USERSPACE_MEMORY_REGION = structLayout(
            u32("slot"), u32("flags"), u64("guest_phys_addr"), u64("memory_size"), u64("userspace_addr"))
            .withName("kvm_userspace_memory_region");

    public static final StructLayout KVM_REGS = structLayout(
            u64("rax"), u64("rbx"), u64("rcx"), u64("rdx"), u64("rsi"), u64("rdi"), u64("rsp"), u64("rbp"),
            u64("r8"), u64("r9"), u64("r10"), u64("r11"), u64("r12"), u64("r13"), u64("r14"), u64("r15"),
            u64("rip"), u64("rflags")).withName("kvm_regs");

    public static final StructLayout KVM_SEGMENT = structLayout(
            u64("base"), u32("limit"), u16("selector"), u8("type"), u8("present"), u8("dpl"), u8("db"),
            u8("s"), u8("l"), u8("g"), u8("avl"), u8("unusable"), u8("padding")).withName("kvm_segment");

    public static final StructLayout KVM_DTABLE = structLayout(
            u64("base"), u16("limit"), sequenceLayout(3, JAVA_SHORT).withName("padding")).withName("kvm_dtable");

    public static final StructLayout KVM_SREGS = structLayout(
            KVM_SEGMENT.withName("cs"), KVM_SEGMENT.withName("ds"), KVM_SEGMENT.withName("es"),
            KVM_SEGMENT.withName("fs"), KVM_SEGMENT.withName("gs"), KVM_SEGMENT.withName("ss"),
            KVM_SEGMENT.withName("tr"), KVM_SEGMENT.withName("ldt"),
            KVM_DTABLE.withName("gdt"), KVM_DTABLE.withName("idt"),
            u64("cr0"), u64("cr2"), u64("cr3"), u64("cr4"), u64("cr8"), u64("efer"), u64("apic_base"),
            sequenceLayout(4, JAVA_LONG).withName("interrupt_bitmap")).withName("kvm_sregs");

    public static final StructLayout KVM_FPU = structLayout(
            bytes("fpr", 128), u16("fcw"), u16("fsw"), u8("ftwx"), u8("pad1"), u16("last_opcode"),
            u64("last_ip"), u64("last_dp"), bytes("xmm", 256), u32("mxcsr"), u32("pad2")).withName("kvm_fpu");

    public static final StructLayout KVM_MSR_ENTRY = structLayout(
            u32("index"), u32("reserved"), u64("data")).withName("kvm_msr_entry");

    /** Header only; {@code entries} follow (flexible array). */
    public static final StructLayout KVM_MSRS = structLayout(u32("nmsrs"), u32("pad")).withName("kvm_msrs");

    public static final StructLayout KVM_MSR_LIST = structLayout(u32("nmsrs")).withName("kvm_msr_list");

    public static final StructLayout KVM_CPUID_ENTRY2 = structLayout(
            u32("function"), u32("index"), u32("flags"), u32("eax"), u32("ebx"), u32("ecx"), u32("edx"),
            sequenceLayout(3, JAVA_INT).withName("padding")).withName("kvm_cpuid_entry2");

    /** Header only; {@code entries} follow (flexible array). */
    public static final StructLayout KVM_CPUID2 = structLayout(u32("nent"), u32("padding")).withName("kvm_cpuid2");

    public static final StructLayout KVM_LAPIC_STATE = structLayout(bytes("regs", 1024)).withName("kvm_lapic_state");

    public static final StructLayout KVM_IRQCHIP = structLayout(
            u32("chip_id"), u32("pad"), unionLayout(bytes("dummy", 512)).withName("chip")).withName("kvm_irqchip");

    public static final StructLayout KVM_PIT_CONFIG = structLayout(
            u32("flags"), sequenceLayout(15, JAVA_INT).withName("pad")).withName("kvm_pit_config");

    public static final StructLayout KVM_PIT_CHANNEL_STATE = structLayout(
            u32("count"), u16("latched_count"), u8("count_latched"), u8("status_latched"), u8("status"),
            u8("read_state"), u8("write_state"), u8("write_latch"), u8("rw_mode"), u8("mode"), u8("bcd"),
            u8("gate"), u64("count_load_time")).withName("kvm_pit_channel_state");

    public static final StructLayout KVM_PIT_STATE2 = structLayout(
            sequenceLayout(3, KVM_PIT_CHANNEL_STATE).withName("channels"), u32("flags"),
            sequenceLayout(9, JAVA_INT).withName("reserved")).withName("kvm_pit_state2");

    public static final StructLayout KVM_IRQ_LEVEL = structLayout(
            unionLayout(u32("irq"), u32("status")).withName("$u"), u32("level")).withName("kvm_irq_level");

    public static final StructLayout KVM_IRQFD = structLayout(
            u32("fd"), u32("gsi"), u32("flags"), u32("resamplefd"), bytes("pad", 16)).withName("kvm_irqfd");

    public static final StructLayout KVM_IOEVENTFD = structLayout(
            u64("datamatch"), u64("addr"), u32("len"), u32("fd"), u32("flags"), bytes("pad", 36)).withName("kvm_ioeventfd");

    public static final StructLayout KVM_IRQ_ROUTING_IRQCHIP = structLayout(u32("irqchip"), u32("pin"))
            .withName("kvm_irq_routing_irqchip");

    public static final StructLayout KVM_IRQ_ROUTING_MSI = structLayout(
            u32("address_lo"), u32("address_hi"), u32("data"), u32("pad")).withName("kvm_irq_routing_msi");

    public static final StructLayout KVM_IRQ_ROUTING_ENTRY = structLayout(
            u32("gsi"), u32("type"), u32("flags"), u32("pad"),
            unionLayout(KVM_IRQ_ROUTING_IRQCHIP.withName("irqchip"), KVM_IRQ_ROUTING_MSI.withName("msi"),
                    sequenceLayout(8, JAVA_INT).withName("pad")).withName("u")).withName("kvm_irq_routing_entry");

    /** Header only; {@code entries} follow (flexible array). */
    public static final StructLayout KVM_IRQ_ROUTING = structLayout(u32("nr"), u32("flags")).withName("kvm_irq_routing");

    public static final StructLayout KVM_MSI = structLayout(
            u32("address_lo"), u32("address_hi"), u32("data"), u32("flags"), u32("devid"), bytes("pad", 12))
            .withName("kvm_msi");

    public static final StructLayout KVM_DIRTY_LOG = structLayout(
            u32("slot"), u32("padding1"), unionLayout(ADDRESS.withName("dirty_bitmap"), u64("padding2")).withName("$u"))
            .withName("kvm_dirty_log");

    public static final StructLayout KVM_CLOCK_DATA = structLayout(
            u64("clock"), u32("flags"), u32("pad0"), u64("realtime"), u64("host_tsc"),
            sequenceLayout(4, JAVA_INT).withName("pad")).withName("kvm_clock_data");

    public static final StructLayout KVM_VCPU_EVENTS = structLayout(
            structLayout(u8("injected"), u8("nr"), u8("has_error_code"), u8("pending"), u32("error_code")).withName("exception"),
            structLayout(u8("injected"), u8("nr"), u8("soft"), u8("shadow")).withName("interrupt"),
            structLayout(u8("injected"), u8("pending"), u8("masked"), u8("pad")).withName("nmi"),
            u32("sipi_vector"), u32("flags"),
            structLayout(u8("smm"), u8("pending"), u8("smm_inside_nmi"), u8("latched_init")).withName("smi"),
            structLayout(u8("pending")).withName("triple_fault"), bytes("reserved", 26), u8("exception_has_payload"), u64("exception_payload")).withName("kvm_vcpu_events");

    public static final StructLayout KVM_XSAVE = structLayout(sequenceLayout(1024, JAVA_INT).withName("region"))
            .withName("kvm_xsave");

    public static final StructLayout KVM_XCR = structLayout(u32("xcr"), u32("reserved"), u64("value")).withName("kvm_xcr");

    public static final StructLayout KVM_XCRS = structLayout(
            u32("nr_xcrs"), u32("flags"), sequenceLayout(16, KVM_XCR).withName("xcrs"),
            sequenceLayout(16, JAVA_LONG).withName("padding")).withName("kvm_xcrs");

    public static final StructLayout KVM_DEBUGREGS = structLayout(
            sequenceLayout(4, JAVA_LONG).withName("db"), u64("dr6"), u64("dr7"), u64("flags"),
            sequenceLayout(9, JAVA_LONG).withName("reserved")).withName("kvm_debugregs");

    public static final StructLayout KVM_MP_STATE = structLayout(u32("mp_state")).withName("kvm_mp_state");

    public static final StructLayout KVM_ENABLE_CAP = structLayout(
            u32("cap"), u32("flags"), sequenceLayout(4, JAVA_LONG).withName("args"), bytes("pad", 64))
            .withName("kvm_enable_cap");

    public static final StructLayout KVM_DIRTY_GFN = structLayout(u32("flags"), u32("slot"), u64("offset"))
            .withName("kvm_dirty_gfn");

    /** The exit-information union of {@code struct kvm_run}: only the members the VMM reads. */
    private static final UnionLayout KVM_RUN_EXIT = unionLayout(
            structLayout(u64("hardware_exit_reason")).withName("hw"),
            structLayout(u64("hardware_entry_failure_reason"), u32("cpu"), paddingLayout(4)).withName("fail_entry"),
            structLayout(u32("exception"), u32("error_code")).withName("ex"),
            structLayout(u8("direction"), u8("size"), u16("port"), u32("count"), u64("data_offset")).withName("io"),
            structLayout(u64("phys_addr"), bytes("data", 8), u32("len"), u8("is_write"), paddingLayout(3)).withName("mmio"),
            structLayout(u32("suberror"), u32("ndata"), sequenceLayout(16, JAVA_LONG).withName("data")).withName("internal"),
            structLayout(u32("type"), u32("ndata"), sequenceLayout(16, JAVA_LONG).withName("data")).withName("system_event"),
            bytes("padding", 256)).withName("$exit");

    public static final StructLayout KVM_RUN = structLayout(
            u8("request_interrupt_window"), u8("immediate_exit"), bytes("padding1", 6),
            u32("exit_reason"), u8("ready_for_interrupt_injection"), u8("if_flag"), u16("flags"),
            u64("cr8"), u64("apic_base"), KVM_RUN_EXIT,
            u64("kvm_valid_regs"), u64("kvm_dirty_regs"),
            unionLayout(bytes("padding", 2048)).withName("s")).withName("kvm_run");

    /** Every layout above by C struct name, for the header probe test. */
    public static Map<String, GroupLayout> all() {
        return dev.vmm.ffm.HeaderFacts.layouts(KVM_USERSPACE_MEMORY_REGION, KVM_REGS, KVM_SEGMENT, KVM_DTABLE, KVM_SREGS, KVM_FPU,
                KVM_MSR_ENTRY, KVM_MSRS, KVM_MSR_LIST, KVM_CPUID_ENTRY2, KVM_CPUID2, KVM_LAPIC_STATE, KVM_IRQCHIP,
                KVM_PIT_CONFIG, KVM_PIT_CHANNEL_STATE, KVM_PIT_STATE2, KVM_IRQ_LEVEL, KVM_IRQFD, KVM_IOEVENTFD,
                KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_IRQ_ROUTING_ENTRY, KVM_IRQ_ROUTING, KVM_MSI,
                KVM_DIRTY_LOG, KVM_CLOCK_DATA, KVM_VCPU_EVENTS, KVM_XSAVE, KVM_XCR, KVM_XCRS, KVM_DEBUGREGS,
                KVM_MP_STATE, KVM_ENABLE_CAP, KVM_DIRTY_GFN, KVM_RUN);
    }

    /** Byte offset of a member by path of names, e.g. {@code offset(KVM_RUN, "$exit", "io", "port")}. */
    public static long offset(GroupLayout layout, String... path) {
        return dev.vmm.ffm.HeaderFacts.offset(layout, path);
    }
}
