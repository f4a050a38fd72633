package dev.vmm.ffm.uring;

import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.MemorySegment;

import static dev.vmm.ffm.uring.IoUringConstants.*;
import static dev.vmm.ffm.uring.IoUringLayouts.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * One submission queue entry slot, handed out (already zeroed) by {@link SubmissionQueue#next()}.
 * There is one {@code Sqe} object per ring slot, made when the ring is created, so filling SQEs
 * allocates nothing. The {@code prep*} methods set the fields an opcode uses, the way the kernel
 * reads them; the setters ({@link #userData}, {@link #flags}, ...) may follow in any order.
 *
 * <p>Buffers are passed as native {@link MemorySegment}s and only their addresses reach the
 * kernel: the caller must keep them alive (and not reuse them) until the operation's CQE has been
 * seen. Heap segments are refused, since their "address" is not a pointer the kernel can use.
 *
 * <p>An {@code Sqe} is valid between {@code next()} and the following {@code submit}: the
 * kernel may reuse the slot after that.
 */
public final class Sqe {
    private static final long MAX_LEN = 0xFFFF_FFFFL;

    private final MemorySegment sqes;
    private final long base;

    Sqe(MemorySegment sqes, long base) {
        this.sqes = sqes;
        this.base = base;
    }

    void clear() {
        for (long o = 0; o < 64; o += 8) sqes.set(JAVA_LONG, base + o, 0L);
    }

    // --- opcode preparation ---------------------------------------------------------------

    /** {@code IORING_OP_NOP}: completes with res 0, useful to wake a waiter or as a barrier with IO_DRAIN. */
    public Sqe prepNop() {
        return rw(IORING_OP_NOP, -1, 0, 0, 0);
    }

    /** {@code IORING_OP_READ}: pread into {@code buf} at {@code offset} (-1 = the file position). */
    public Sqe prepRead(int fd, MemorySegment buf, long offset) {
        return rw(IORING_OP_READ, fd, address(buf, "buf"), length(buf), offset);
    }

    /** {@code IORING_OP_WRITE}: pwrite from {@code buf} at {@code offset} (-1 = the file position). */
    public Sqe prepWrite(int fd, MemorySegment buf, long offset) {
        return rw(IORING_OP_WRITE, fd, address(buf, "buf"), length(buf), offset);
    }

    /** {@code IORING_OP_READV}: preadv into {@code count} {@link Libc#IOVEC}s in {@code iovecs}. */
    public Sqe prepReadv(int fd, MemorySegment iovecs, int count, long offset) {
        return rw(IORING_OP_READV, fd, iovecAddress(iovecs, count), count, offset);
    }

    /** {@code IORING_OP_WRITEV}: pwritev from {@code count} {@link Libc#IOVEC}s in {@code iovecs}. */
    public Sqe prepWritev(int fd, MemorySegment iovecs, int count, long offset) {
        return rw(IORING_OP_WRITEV, fd, iovecAddress(iovecs, count), count, offset);
    }

    /**
     * {@code IORING_OP_READ_FIXED}: read into {@code buf}, which must lie inside the registered
     * buffer {@code bufIndex} (see {@link IoUring#registerBuffers}); the kernel checks that.
     */
    public Sqe prepReadFixed(int fd, MemorySegment buf, long offset, int bufIndex) {
        rw(IORING_OP_READ_FIXED, fd, address(buf, "buf"), length(buf), offset);
        return bufIndex(bufIndex);
    }

    /** {@code IORING_OP_WRITE_FIXED}: write from {@code buf} inside registered buffer {@code bufIndex}. */
    public Sqe prepWriteFixed(int fd, MemorySegment buf, long offset, int bufIndex) {
        rw(IORING_OP_WRITE_FIXED, fd, address(buf, "buf"), length(buf), offset);
        return bufIndex(bufIndex);
    }

    /** {@code IORING_OP_FSYNC}: fsync, or fdatasync when {@code datasync}. */
    public Sqe prepFsync(int fd, boolean datasync) {
        rw(IORING_OP_FSYNC, fd, 0, 0, 0);
        return opFlags(datasync ? IORING_FSYNC_DATASYNC : 0);
    }

    /**
     * {@code IORING_OP_FALLOCATE}: fallocate(fd, mode, offset, len), e.g. with
     * {@code FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE} for a discard. The kernel takes the length
     * from {@code addr} and the mode from {@code len}.
     */
    public Sqe prepFallocate(int fd, int mode, long offset, long len) {
        return rw(IORING_OP_FALLOCATE, fd, len, mode, offset);
    }

    /** {@code IORING_OP_POLL_ADD}, one shot: completes with the ready {@code POLL*} events as res. */
    public Sqe prepPollAdd(int fd, int events) {
        return prepPollAdd(fd, events, 0);
    }

    /** {@code IORING_OP_POLL_ADD} with command flags, e.g. {@code IORING_POLL_ADD_MULTI} for multishot. */
    public Sqe prepPollAdd(int fd, int events, int pollFlags) {
        rw(IORING_OP_POLL_ADD, fd, 0, pollFlags, 0);
        return opFlags(events); // poll32_events: the kernel swaps halves only on big-endian hosts
    }

    /** {@code IORING_OP_POLL_REMOVE}: cancel the poll whose SQE had {@code targetUserData}. */
    public Sqe prepPollRemove(long targetUserData) {
        return rw(IORING_OP_POLL_REMOVE, -1, targetUserData, 0, 0);
    }

    /**
     * {@code IORING_OP_TIMEOUT}: completes with {@code -ETIME} after the {@link IoUringLayouts#KERNEL_TIMESPEC}
     * in {@code timespec}, or with 0 once {@code count} other completions have been posted
     * (0 = pure timer). {@code timeoutFlags} are {@code IORING_TIMEOUT_*}.
     */
    public Sqe prepTimeout(MemorySegment timespec, int count, int timeoutFlags) {
        if (timespec.byteSize() < KERNEL_TIMESPEC.byteSize()) {
            throw new IllegalArgumentException("timespec: " + timespec.byteSize() + " bytes, need 16");
        }
        rw(IORING_OP_TIMEOUT, -1, address(timespec, "timespec"), 1, Integer.toUnsignedLong(count));
        return opFlags(timeoutFlags);
    }

    /** {@code IORING_OP_ASYNC_CANCEL}: cancel the request with {@code targetUserData} ({@code IORING_ASYNC_CANCEL_*} flags). */
    public Sqe prepCancel(long targetUserData, int cancelFlags) {
        rw(IORING_OP_ASYNC_CANCEL, -1, targetUserData, 0, 0);
        return opFlags(cancelFlags);
    }

    /** {@code IORING_OP_SENDMSG} with a {@code struct msghdr}; {@code msgFlags} as for sendmsg(2). */
    public Sqe prepSendmsg(int fd, MemorySegment msghdr, int msgFlags) {
        rw(IORING_OP_SENDMSG, fd, address(msghdr, "msghdr"), 1, 0);
        return opFlags(msgFlags);
    }

    /** {@code IORING_OP_RECVMSG} with a {@code struct msghdr}; {@code msgFlags} as for recvmsg(2). */
    public Sqe prepRecvmsg(int fd, MemorySegment msghdr, int msgFlags) {
        rw(IORING_OP_RECVMSG, fd, address(msghdr, "msghdr"), 1, 0);
        return opFlags(msgFlags);
    }

    /** Any opcode, with the fields most of them share; for opcodes without a {@code prep} method. */
    public Sqe prep(int opcode, int fd, long addr, int len, long offset) {
        if ((opcode & ~0xFF) != 0) throw new IllegalArgumentException("opcode " + opcode + " is not a u8");
        return rw(opcode, fd, addr, len, offset);
    }

    // --- common fields ----------------------------------------------------------------------

    /** The value the CQE carries back, to match a completion to its request. */
    public Sqe userData(long userData) { return putLong(SQE_USER_DATA, userData); }

    /** {@code IOSQE_*} flags (replaces the flags set so far). */
    public Sqe flags(int iosqeFlags) {
        if ((iosqeFlags & ~0xFF) != 0) throw new IllegalArgumentException("IOSQE flags 0x" + Integer.toHexString(iosqeFlags));
        return putByte(SQE_FLAGS, iosqeFlags);
    }

    /** The opcode-specific flags word (rw_flags, fsync_flags, poll32_events, ... share it). */
    public Sqe opFlags(int flags) { return putInt(SQE_OP_FLAGS, flags); }

    public Sqe ioprio(int ioprio) { return putShort(SQE_IOPRIO, ioprio); }

    /** Index into the registered buffers ({@code buf_index}) or the buffer group ({@code buf_group}). */
    public Sqe bufIndex(int index) {
        if ((index & ~0xFFFF) != 0) throw new IllegalArgumentException("buffer index " + index + " is not a u16");
        return putShort(SQE_BUF_INDEX, index);
    }

    public Sqe personality(int personality) { return putShort(SQE_PERSONALITY, personality); }

    /** {@code file_index}/{@code splice_fd_in}. */
    public Sqe fileIndex(int index) { return putInt(SQE_FILE_INDEX, index); }

    public Sqe addr3(long addr3) { return putLong(SQE_ADDR3, addr3); }

    // --- reading back (diagnostics and tests) -----------------------------------------------

    public int opcode() { return Byte.toUnsignedInt(sqes.get(JAVA_BYTE, base + SQE_OPCODE)); }
    public int flags() { return Byte.toUnsignedInt(sqes.get(JAVA_BYTE, base + SQE_FLAGS)); }
    public int fd() { return sqes.get(JAVA_INT, base + SQE_FD); }
    public long off() { return sqes.get(JAVA_LONG, base + SQE_OFF); }
    public long addr() { return sqes.get(JAVA_LONG, base + SQE_ADDR); }
    public int len() { return sqes.get(JAVA_INT, base + SQE_LEN); }
    public int opFlags() { return sqes.get(JAVA_INT, base + SQE_OP_FLAGS); }
    public long userData() { return sqes.get(JAVA_LONG, base + SQE_USER_DATA); }
    public int bufIndex() { return Short.toUnsignedInt(sqes.get(JAVA_SHORT, base + SQE_BUF_INDEX)); }

    // --- helpers ----------------------------------------------------------------------------

    private Sqe rw(int opcode, int fd, long addr, int len, long offset) {
        putByte(SQE_OPCODE, opcode);
        putInt(SQE_FD, fd);
        putLong(SQE_OFF, offset);
        putLong(SQE_ADDR, addr);
        return putInt(SQE_LEN, len);
    }

    // One writer per field width: the field's offset in struct io_uring_sqe, the value truncated to that width.

    private Sqe putByte(long field, int value) {
        sqes.set(JAVA_BYTE, base + field, (byte) value);
        return this;
    }

    private Sqe putShort(long field, int value) {
        sqes.set(JAVA_SHORT, base + field, (short) value);
        return this;
    }

    private Sqe putInt(long field, int value) {
        sqes.set(JAVA_INT, base + field, value);
        return this;
    }

    private Sqe putLong(long field, long value) {
        sqes.set(JAVA_LONG, base + field, value);
        return this;
    }

    private static long address(MemorySegment s, String what) {
        if (!s.isNative()) throw new IllegalArgumentException(what + " is a heap segment; io_uring needs native memory");
        return s.address();
    }

    private static int length(MemorySegment buf) {
        long n = buf.byteSize();
        if (n > MAX_LEN) throw new IllegalArgumentException("buffer of " + n + " bytes: io_uring lengths are u32");
        return (int) n;
    }

    private static long iovecAddress(MemorySegment iovecs, int count) {
        if (count < 0 || (long) count * Libc.IOVEC.byteSize() > iovecs.byteSize()) {
            throw new IllegalArgumentException(count + " iovecs do not fit in " + iovecs.byteSize() + " bytes");
        }
        return address(iovecs, "iovecs");
    }
}
