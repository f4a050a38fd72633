package dev.vmm.ffm.uring;

import java.util.Map;
import java.util.Set;

/**
 * Opcodes, flags and magic numbers of {@code <linux/io_uring.h>} (the subset present in the
 * Linux 6.1 UAPI header, the oldest one the project builds against). {@code IoUringHeaderProbeTest}
 * checks every public constant here against the system's header.
 */
public final class IoUringConstants {
    private IoUringConstants() {}

    // enum io_uring_op
    public static final int IORING_OP_NOP = 0, IORING_OP_READV = 1, IORING_OP_WRITEV = 2, IORING_OP_FSYNC = 3,
            IORING_OP_READ_FIXED = 4, IORING_OP_WRITE_FIXED = 5, IORING_OP_POLL_ADD = 6, IORING_OP_POLL_REMOVE = 7,
            IORING_OP_SYNC_FILE_RANGE = 8, IORING_OP_SENDMSG = 9, IORING_OP_RECVMSG = 10, IORING_OP_TIMEOUT = 11,
            IORING_OP_TIMEOUT_REMOVE = 12, IORING_OP_ACCEPT = 13, IORING_OP_ASYNC_CANCEL = 14,
            IORING_OP_LINK_TIMEOUT = 15, IORING_OP_CONNECT = 16, IORING_OP_FALLOCATE = 17, IORING_OP_OPENAT = 18,
            IORING_OP_CLOSE = 19, IORING_OP_FILES_UPDATE = 20, IORING_OP_STATX = 21, IORING_OP_READ = 22,
            IORING_OP_WRITE = 23, IORING_OP_FADVISE = 24, IORING_OP_MADVISE = 25, IORING_OP_SEND = 26,
            IORING_OP_RECV = 27, IORING_OP_OPENAT2 = 28, IORING_OP_EPOLL_CTL = 29, IORING_OP_SPLICE = 30,
            IORING_OP_PROVIDE_BUFFERS = 31, IORING_OP_REMOVE_BUFFERS = 32, IORING_OP_TEE = 33,
            IORING_OP_SHUTDOWN = 34, IORING_OP_RENAMEAT = 35, IORING_OP_UNLINKAT = 36, IORING_OP_MKDIRAT = 37,
            IORING_OP_SYMLINKAT = 38, IORING_OP_LINKAT = 39, IORING_OP_MSG_RING = 40, IORING_OP_FSETXATTR = 41,
            IORING_OP_SETXATTR = 42, IORING_OP_FGETXATTR = 43, IORING_OP_GETXATTR = 44, IORING_OP_SOCKET = 45,
            IORING_OP_URING_CMD = 46, IORING_OP_SEND_ZC = 47, IORING_OP_SENDMSG_ZC = 48;

    // sqe->flags
    public static final int IOSQE_FIXED_FILE = 1 << 0, IOSQE_IO_DRAIN = 1 << 1, IOSQE_IO_LINK = 1 << 2,
            IOSQE_IO_HARDLINK = 1 << 3, IOSQE_ASYNC = 1 << 4, IOSQE_BUFFER_SELECT = 1 << 5,
            IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

    // io_uring_setup() flags
    public static final int IORING_SETUP_IOPOLL = 1 << 0, IORING_SETUP_SQPOLL = 1 << 1, IORING_SETUP_SQ_AFF = 1 << 2,
            IORING_SETUP_CQSIZE = 1 << 3, IORING_SETUP_CLAMP = 1 << 4, IORING_SETUP_ATTACH_WQ = 1 << 5,
            IORING_SETUP_R_DISABLED = 1 << 6, IORING_SETUP_SUBMIT_ALL = 1 << 7, IORING_SETUP_COOP_TASKRUN = 1 << 8,
            IORING_SETUP_TASKRUN_FLAG = 1 << 9, IORING_SETUP_SQE128 = 1 << 10, IORING_SETUP_CQE32 = 1 << 11,
            IORING_SETUP_SINGLE_ISSUER = 1 << 12, IORING_SETUP_DEFER_TASKRUN = 1 << 13;

    // sqe->fsync_flags, sqe->timeout_flags
    public static final int IORING_FSYNC_DATASYNC = 1 << 0;
    public static final int IORING_TIMEOUT_ABS = 1 << 0, IORING_TIMEOUT_UPDATE = 1 << 1,
            IORING_TIMEOUT_BOOTTIME = 1 << 2, IORING_TIMEOUT_REALTIME = 1 << 3, IORING_LINK_TIMEOUT_UPDATE = 1 << 4,
            IORING_TIMEOUT_ETIME_SUCCESS = 1 << 5;

    // POLL_ADD command flags (in sqe->len), ASYNC_CANCEL flags (sqe->cancel_flags)
    public static final int IORING_POLL_ADD_MULTI = 1 << 0, IORING_POLL_UPDATE_EVENTS = 1 << 1,
            IORING_POLL_UPDATE_USER_DATA = 1 << 2, IORING_POLL_ADD_LEVEL = 1 << 3;
    public static final int IORING_ASYNC_CANCEL_ALL = 1 << 0, IORING_ASYNC_CANCEL_FD = 1 << 1,
            IORING_ASYNC_CANCEL_ANY = 1 << 2, IORING_ASYNC_CANCEL_FD_FIXED = 1 << 3,
            IORING_ASYNC_CANCEL_USERDATA = 1 << 4, IORING_ASYNC_CANCEL_OP = 1 << 5;

    /** sqe->file_index: let the kernel pick a free direct descriptor ({@code ~0U}). */
    public static final int IORING_FILE_INDEX_ALLOC = ~0;

    // cqe->flags
    public static final int IORING_CQE_F_BUFFER = 1 << 0, IORING_CQE_F_MORE = 1 << 1,
            IORING_CQE_F_SOCK_NONEMPTY = 1 << 2, IORING_CQE_F_NOTIF = 1 << 3;
    public static final int IORING_CQE_BUFFER_SHIFT = 16;

    // mmap offsets
    public static final long IORING_OFF_SQ_RING = 0L, IORING_OFF_CQ_RING = 0x8000000L, IORING_OFF_SQES = 0x10000000L;

    // sq_ring->flags, cq_ring->flags
    public static final int IORING_SQ_NEED_WAKEUP = 1 << 0, IORING_SQ_CQ_OVERFLOW = 1 << 1, IORING_SQ_TASKRUN = 1 << 2;
    public static final int IORING_CQ_EVENTFD_DISABLED = 1 << 0;

    // io_uring_enter() flags
    public static final int IORING_ENTER_GETEVENTS = 1 << 0, IORING_ENTER_SQ_WAKEUP = 1 << 1,
            IORING_ENTER_SQ_WAIT = 1 << 2, IORING_ENTER_EXT_ARG = 1 << 3, IORING_ENTER_REGISTERED_RING = 1 << 4;

    // io_uring_params->features
    public static final int IORING_FEAT_SINGLE_MMAP = 1 << 0, IORING_FEAT_NODROP = 1 << 1,
            IORING_FEAT_SUBMIT_STABLE = 1 << 2, IORING_FEAT_RW_CUR_POS = 1 << 3, IORING_FEAT_CUR_PERSONALITY = 1 << 4,
            IORING_FEAT_FAST_POLL = 1 << 5, IORING_FEAT_POLL_32BITS = 1 << 6, IORING_FEAT_SQPOLL_NONFIXED = 1 << 7,
            IORING_FEAT_EXT_ARG = 1 << 8, IORING_FEAT_NATIVE_WORKERS = 1 << 9, IORING_FEAT_RSRC_TAGS = 1 << 10,
            IORING_FEAT_CQE_SKIP = 1 << 11, IORING_FEAT_LINKED_FILE = 1 << 12;

    // io_uring_register() opcodes
    public static final int IORING_REGISTER_BUFFERS = 0, IORING_UNREGISTER_BUFFERS = 1, IORING_REGISTER_FILES = 2,
            IORING_UNREGISTER_FILES = 3, IORING_REGISTER_EVENTFD = 4, IORING_UNREGISTER_EVENTFD = 5,
            IORING_REGISTER_FILES_UPDATE = 6, IORING_REGISTER_EVENTFD_ASYNC = 7, IORING_REGISTER_PROBE = 8,
            IORING_REGISTER_PERSONALITY = 9, IORING_UNREGISTER_PERSONALITY = 10, IORING_REGISTER_RESTRICTIONS = 11,
            IORING_REGISTER_ENABLE_RINGS = 12, IORING_REGISTER_FILES2 = 13, IORING_REGISTER_FILES_UPDATE2 = 14,
            IORING_REGISTER_BUFFERS2 = 15, IORING_REGISTER_BUFFERS_UPDATE = 16, IORING_REGISTER_IOWQ_AFF = 17,
            IORING_UNREGISTER_IOWQ_AFF = 18, IORING_REGISTER_IOWQ_MAX_WORKERS = 19, IORING_REGISTER_RING_FDS = 20,
            IORING_UNREGISTER_RING_FDS = 21, IORING_REGISTER_PBUF_RING = 22, IORING_UNREGISTER_PBUF_RING = 23,
            IORING_REGISTER_SYNC_CANCEL = 24, IORING_REGISTER_FILE_ALLOC_RANGE = 25;

    public static final int IORING_RSRC_REGISTER_SPARSE = 1 << 0;
    /** In a files update: leave this slot as it is. */
    public static final int IORING_REGISTER_FILES_SKIP = -2;
    /** io_uring_probe_op->flags: the opcode is supported. */
    public static final int IO_URING_OP_SUPPORTED = 1 << 0;

    /** Constants that C declares signed; every other int here is an unsigned C value ({@code 1U << n}, {@code ~0U}). */
    private static final Set<String> SIGNED = Set.of("IORING_REGISTER_FILES_SKIP");

    private static final String[] OP_NAMES = opNames();

    private static String[] opNames() {
        String[] names = new String[IORING_OP_SENDMSG_ZC + 1];
        for (Map.Entry<String, Long> e : all().entrySet()) {
            if (e.getKey().startsWith("IORING_OP_")) names[e.getValue().intValue()] = e.getKey().substring("IORING_OP_".length());
        }
        return names;
    }

    /** The short name of an opcode ("READV"), or "op N" for one newer than this class knows. */
    public static String opName(int opcode) {
        if (opcode >= 0 && opcode < OP_NAMES.length && OP_NAMES[opcode] != null) return OP_NAMES[opcode];
        return "op " + opcode;
    }

    /** Every public constant by C name, valued as C sees it (unsigned where C is), for the header probe. */
    public static Map<String, Long> all() {
        return dev.vmm.ffm.HeaderFacts.constants(IoUringConstants.class, name -> true, SIGNED::contains);
    }
}
