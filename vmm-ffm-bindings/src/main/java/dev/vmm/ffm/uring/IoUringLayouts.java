package dev.vmm.ffm.uring;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.util.Map;

import static dev.vmm.ffm.CMembers.u16;
import static dev.vmm.ffm.CMembers.u32;
import static dev.vmm.ffm.CMembers.u64;
import static dev.vmm.ffm.CMembers.u8;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.MemoryLayout.unionLayout;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Layouts of the {@code <linux/io_uring.h>} structures, in the style of
 * {@link dev.vmm.ffm.kvm.KvmLayouts}: member names are the C member names, so
 * {@code IoUringHeaderProbeTest} checks every size and offset against the system's headers.
 * Anonymous C unions (and anonymous structs inside them) are members named with a leading
 * {@code $}, which the probe leaves out of the C member path.
 *
 * <p>Flexible array members ({@code io_uring_cqe.big_cqe}, {@code io_uring_probe.ops},
 * {@code io_uring_sqe.cmd}) are left out: the layouts describe the fixed part only.
 */
public final class IoUringLayouts {
    private IoUringLayouts() {}

    public static final StructLayout IO_SQRING_OFFSETS = structLayout(
            u32("head"), u32("tail"), u32("ring_mask"), u32("ring_entries"), u32("flags"), u32("dropped"),
            u32("array"), u32("resv1"), u64("resv2")).withName("io_sqring_offsets");

    public static final StructLayout IO_CQRING_OFFSETS = structLayout(
            u32("head"), u32("tail"), u32("ring_mask"), u32("ring_entries"), u32("overflow"), u32("cqes"),
            u32("flags"), u32("resv1"), u64("resv2")).withName("io_cqring_offsets");

    public static final StructLayout IO_URING_PARAMS = structLayout(
            u32("sq_entries"), u32("cq_entries"), u32("flags"), u32("sq_thread_cpu"), u32("sq_thread_idle"),
            u32("features"), u32("wq_fd"), sequenceLayout(3, JAVA_INT).withName("resv"),
            IO_SQRING_OFFSETS.withName("sq_off"), IO_CQRING_OFFSETS.withName("cq_off")).withName("io_uring_params");

    /** The 64-byte submission queue entry (the 128-byte SQE128 variant is not used by the VMM). */
    public static final StructLayout IO_URING_SQE = structLayout(
            u8("opcode"), u8("flags"), u16("ioprio"), u32("fd"),
            unionLayout(u64("off"), u64("addr2"),
                    structLayout(u32("cmd_op"), u32("__pad1")).withName("$cmd")).withName("$off"),
            unionLayout(u64("addr"), u64("splice_off_in")).withName("$addr"),
            u32("len"),
            unionLayout(u32("rw_flags"), u32("fsync_flags"), u16("poll_events"), u32("poll32_events"),
                    u32("sync_range_flags"), u32("msg_flags"), u32("timeout_flags"), u32("accept_flags"),
                    u32("cancel_flags"), u32("open_flags"), u32("statx_flags"), u32("fadvise_advice"),
                    u32("splice_flags"), u32("rename_flags"), u32("unlink_flags"), u32("hardlink_flags"),
                    u32("xattr_flags"), u32("msg_ring_flags"), u32("uring_cmd_flags")).withName("$op_flags"),
            u64("user_data"),
            unionLayout(u16("buf_index"), u16("buf_group")).withName("$buf"),
            u16("personality"),
            unionLayout(u32("splice_fd_in"), u32("file_index"),
                    structLayout(u16("addr_len"), sequenceLayout(1, JAVA_SHORT).withName("__pad3")).withName("$addr_len"))
                    .withName("$file"),
            unionLayout(structLayout(u64("addr3"), sequenceLayout(1, JAVA_LONG).withName("__pad2")).withName("$addr3"))
                    .withName("$tail")).withName("io_uring_sqe");

    /** The 16-byte completion queue entry (the CQE32 variant is not used by the VMM). */
    public static final StructLayout IO_URING_CQE = structLayout(
            u64("user_data"), u32("res"), u32("flags")).withName("io_uring_cqe");

    /** Deprecated by the kernel in favour of {@link #IO_URING_RSRC_UPDATE}, same layout. */
    public static final StructLayout IO_URING_FILES_UPDATE = structLayout(
            u32("offset"), u32("resv"), u64("fds")).withName("io_uring_files_update");

    public static final StructLayout IO_URING_RSRC_UPDATE = structLayout(
            u32("offset"), u32("resv"), u64("data")).withName("io_uring_rsrc_update");

    public static final StructLayout IO_URING_RSRC_REGISTER = structLayout(
            u32("nr"), u32("flags"), u64("resv2"), u64("data"), u64("tags")).withName("io_uring_rsrc_register");

    public static final StructLayout IO_URING_PROBE_OP = structLayout(
            u8("op"), u8("resv"), u16("flags"), u32("resv2")).withName("io_uring_probe_op");

    /** Header only; {@code ops} ({@link #IO_URING_PROBE_OP}) follow (flexible array). */
    public static final StructLayout IO_URING_PROBE = structLayout(
            u8("last_op"), u8("ops_len"), u16("resv"), sequenceLayout(3, JAVA_INT).withName("resv2"))
            .withName("io_uring_probe");

    /** {@code struct __kernel_timespec}, the argument of IORING_OP_TIMEOUT. */
    public static final StructLayout KERNEL_TIMESPEC = structLayout(
            u64("tv_sec"), u64("tv_nsec")).withName("__kernel_timespec");

    /** Argument of io_uring_enter with IORING_ENTER_EXT_ARG (a timeout for the wait). */
    public static final StructLayout IO_URING_GETEVENTS_ARG = structLayout(
            u64("sigmask"), u32("sigmask_sz"), u32("pad"), u64("ts")).withName("io_uring_getevents_arg");

    // Offsets used on the hot path (SQE filling, CQE reading), computed once from the layouts.
    static final long SQE_OPCODE = offset(IO_URING_SQE, "opcode");
    static final long SQE_FLAGS = offset(IO_URING_SQE, "flags");
    static final long SQE_IOPRIO = offset(IO_URING_SQE, "ioprio");
    static final long SQE_FD = offset(IO_URING_SQE, "fd");
    static final long SQE_OFF = offset(IO_URING_SQE, "$off", "off");
    static final long SQE_ADDR = offset(IO_URING_SQE, "$addr", "addr");
    static final long SQE_LEN = offset(IO_URING_SQE, "len");
    static final long SQE_OP_FLAGS = offset(IO_URING_SQE, "$op_flags", "rw_flags");
    static final long SQE_USER_DATA = offset(IO_URING_SQE, "user_data");
    static final long SQE_BUF_INDEX = offset(IO_URING_SQE, "$buf", "buf_index");
    static final long SQE_PERSONALITY = offset(IO_URING_SQE, "personality");
    static final long SQE_FILE_INDEX = offset(IO_URING_SQE, "$file", "file_index");
    static final long SQE_ADDR3 = offset(IO_URING_SQE, "$tail", "$addr3", "addr3");
    static final long CQE_USER_DATA = offset(IO_URING_CQE, "user_data");
    static final long CQE_RES = offset(IO_URING_CQE, "res");
    static final long CQE_FLAGS = offset(IO_URING_CQE, "flags");

    /** Every layout above by C struct name, for the header probe test. */
    public static Map<String, GroupLayout> all() {
        return dev.vmm.ffm.HeaderFacts.layouts(IO_SQRING_OFFSETS, IO_CQRING_OFFSETS, IO_URING_PARAMS, IO_URING_SQE, IO_URING_CQE,
                IO_URING_FILES_UPDATE, IO_URING_RSRC_UPDATE, IO_URING_RSRC_REGISTER, IO_URING_PROBE_OP,
                IO_URING_PROBE, KERNEL_TIMESPEC, IO_URING_GETEVENTS_ARG);
    }

    /** Byte offset of a member by path of names, e.g. {@code offset(IO_URING_PARAMS, "sq_off", "tail")}. */
    public static long offset(GroupLayout layout, String... path) {
        return dev.vmm.ffm.HeaderFacts.offset(layout, path);
    }
}
