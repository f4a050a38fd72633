package dev.vmm.ffm.libc;

import dev.vmm.ffm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcalls into glibc, in the style of jextract output: one {@link MethodHandle} per function,
 * errno captured with {@link Linker.Option#captureCallState}, and a checked wrapper per call that
 * turns {@code -1} into a {@link NativeException} naming the call.
 *
 * <p>The {@code *Raw} variants return {@code -errno} instead of throwing; they exist for hot paths
 * (KVM_RUN, eventfd reads) where EINTR/EAGAIN are part of normal operation.
 */
public final class Libc {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    // errno's offset in the captured state, found by walking the struct's members: a layout path
    // (varHandle/byteOffset) initialises LayoutPath's method handles, ~7 % of a dry run's CPU (#19).
    private static final long ERRNO_OFFSET = memberOffset(CAPTURE_LAYOUT, "errno");
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");

    /** One capture buffer per thread: calls never allocate. */
    private static long memberOffset(StructLayout struct, String name) {
        long offset = 0;
        for (MemoryLayout m : struct.memberLayouts()) {
            if (name.equals(m.name().orElse(null))) return offset;
            offset += m.byteSize();
        }
        throw new IllegalStateException("no " + name + " in " + struct);
    }

    private static final ThreadLocal<MemorySegment> CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE_LAYOUT));

    /**
     * A downcall handle made on first use. Making one spins bytecode (a few ms each); the VMM uses
     * a handful of these functions per run, so creating all of them at class load would cost
     * start-up time for nothing. The hot-path calls (ioctl, read, write, epoll_wait) use holder
     * classes instead (below), lazy too but constants for the JIT.
     */
    private static final class LazyHandle {
        private final java.util.function.Supplier<MethodHandle> factory;
        private volatile MethodHandle handle;

        LazyHandle(java.util.function.Supplier<MethodHandle> factory) {
            this.factory = factory;
        }

        MethodHandle get() {
            MethodHandle h = handle;
            if (h == null) handle = h = factory.get();   // a racing duplicate is harmless
            return h;
        }
    }

    private static MethodHandle errnoCall(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] opts = new Linker.Option[extra.length + 1];
        opts[0] = CAPTURE;
        System.arraycopy(extra, 0, opts, 1, extra.length);
        // captureCallState itself adds the leading MemorySegment (capture state) parameter.
        return LINKER.downcallHandle(symbol(name), fd, opts);
    }

    private static MethodHandle plainCall(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd);
    }

    private static MemorySegment symbol(String name) {
        return LOOKUP.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
    }

    /*
     * Cold calls on the start-up path (open, close, fstat, fcntl, mmap, munmap, madvise, pread) go
     * through syscall(2) with the system calls glibc 2.36's wrappers make on x86-64 (openat,
     * newfstatat with AT_EMPTY_PATH, pread64, ...: the seccomp allow-lists stay valid). Linking a
     * downcall handle costs ~15-20 ms of CPU per distinct signature even with the AOT cache, and a
     * dry run or img info linked nine of them; through syscall(2) they share one handle (issue #19).
     */
    private static final long SYS_CLOSE = 3, SYS_MMAP = 9, SYS_MUNMAP = 11, SYS_PREAD64 = 17,
            SYS_MADVISE = 28, SYS_FCNTL = 72, SYS_PRCTL = 157, SYS_OPENAT = 257, SYS_NEWFSTATAT = 262;
    private static final int AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000;
    /** The empty path newfstatat needs for an fd (a NUL byte). */
    private static final MemorySegment EMPTY_PATH = Arena.global().allocate(1);

    private static final LazyHandle MEMFD_CREATE = new LazyHandle(() -> errnoCall("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)));
    // Hot-path calls: each handle is a constant in its own holder class, so the JIT still inlines
    // it (a static final), but it is linked only on first use (class initialisation) instead of
    // when Libc loads: a dry run or img info never calls most of them.
    private static final class IoctlPtrCall { static final MethodHandle H = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
                Linker.Option.firstVariadicArg(2)); }
    private static final class IoctlLongCall { static final MethodHandle H = errnoCall("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG),
                Linker.Option.firstVariadicArg(2)); }
    private static final LazyHandle EVENTFD = new LazyHandle(() -> errnoCall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT)));
    private static final LazyHandle EPOLL_CREATE1 = new LazyHandle(() -> errnoCall("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT)));
    private static final LazyHandle EPOLL_CTL = new LazyHandle(() -> errnoCall("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS)));
    private static final class EpollWaitCall { static final MethodHandle H = errnoCall("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)); }
    private static final class ReadCall { static final MethodHandle H = errnoCall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final class WriteCall { static final MethodHandle H = errnoCall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG)); }
    private static final LazyHandle PWRITE = new LazyHandle(() -> errnoCall("pwrite64", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG)));
    private static final LazyHandle PREADV = new LazyHandle(() -> errnoCall("preadv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG)));
    private static final LazyHandle PWRITEV = new LazyHandle(() -> errnoCall("pwritev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG)));
    private static final class WritevCall { static final MethodHandle H = errnoCall("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final class ReadvCall { static final MethodHandle H = errnoCall("readv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT)); }
    private static final LazyHandle FALLOCATE = new LazyHandle(() -> errnoCall("fallocate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG)));
    private static final LazyHandle FSYNC = new LazyHandle(() -> errnoCall("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT)));
    private static final LazyHandle FDATASYNC = new LazyHandle(() -> errnoCall("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT)));
    private static final LazyHandle FTRUNCATE = new LazyHandle(() -> errnoCall("ftruncate64", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG)));
    /*
     * syscall(2) is variadic, but it is linked as a fixed seven-long function: on x86-64 the only
     * difference firstVariadicArg makes is %al (the number of vector registers used, 0 here), and
     * glibc's syscall is an assembly routine (sysdeps/unix/sysv/linux/x86_64/syscall.S) that
     * overwrites %rax with the system call number without reading it. The variadic form made the
     * linker bind that extra argument with insertArguments, which spins BoundMethodHandle species
     * and LambdaForms at run time: ~12 of the ~34 ms of CPU the link cost with the AOT cache
     * (-Xint, medians of 5, benchmarks LinkCost harness in docs/benchmarks.md; issue #19).
     */
    private static final class Syscall6Call { static final MethodHandle H = errnoCall("syscall",
                FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG)); }
    private static final LazyHandle SIGACTION = new LazyHandle(() -> errnoCall("sigaction", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS)));
    private static final class PthreadSelfCall { static final MethodHandle H = plainCall("pthread_self", FunctionDescriptor.of(JAVA_LONG)); }
    private static final class PthreadKillCall { static final MethodHandle H = plainCall("pthread_kill", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT)); }
    private static final class StrerrorCall { static final MethodHandle H = plainCall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT)); }
    private static final LazyHandle SYSCONF = new LazyHandle(() -> plainCall("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT)));
    private static final LazyHandle GETPID = new LazyHandle(() -> plainCall("getpid", FunctionDescriptor.of(JAVA_INT)));
    private static final LazyHandle GETTID = new LazyHandle(() -> plainCall("gettid", FunctionDescriptor.of(JAVA_INT)));

    // open(2)
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0100, O_EXCL = 0200,
            O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000, O_DSYNC = 010000, O_DIRECT = 040000,
            O_CLOEXEC = 02000000;
    // mmap(2)
    public static final int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    public static final int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20,
            MAP_NORESERVE = 0x4000, MAP_POPULATE = 0x8000, MAP_HUGETLB = 0x40000;
    public static final int MADV_DONTNEED = 4, MADV_REMOVE = 9, MADV_DONTFORK = 10, MADV_MERGEABLE = 12,
            MADV_HUGEPAGE = 14, MADV_NOHUGEPAGE = 15, MADV_DONTDUMP = 16,
            /** Linux 5.14: fault every page in writable (EINVAL on older kernels). */
            MADV_POPULATE_WRITE = 23;
    public static final int MFD_CLOEXEC = 1;
    // eventfd(2), epoll(7)
    public static final int EFD_SEMAPHORE = 1, EFD_NONBLOCK = 04000, EFD_CLOEXEC = 02000000;
    public static final int EPOLL_CLOEXEC = 02000000, EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public static final int EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLET = 1 << 31;
    // fallocate(2)
    public static final int FALLOC_FL_KEEP_SIZE = 1, FALLOC_FL_PUNCH_HOLE = 2, FALLOC_FL_ZERO_RANGE = 0x10;
    // fcntl(2)
    public static final int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1, F_GETFL = 3, F_SETFL = 4, F_SETLK = 6, F_OFD_SETLK = 37;
    public static final short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    // prctl(2)
    public static final int PR_SET_NAME = 15, PR_SET_NO_NEW_PRIVS = 38, PR_SET_SECCOMP = 22;
    // sysconf(3)
    public static final int SC_PAGESIZE = 30, SC_NPROCESSORS_ONLN = 84;
    // syscall numbers (x86-64)
    public static final long SYS_IO_URING_SETUP = 425, SYS_IO_URING_ENTER = 426, SYS_IO_URING_REGISTER = 427,
            SYS_GETTID = 186, SYS_TGKILL = 234, SYS_SECCOMP = 317;

    /** {@code struct iovec}. */
    public static final StructLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"), JAVA_LONG.withName("iov_len")).withName("iovec");
    /** {@code struct epoll_event}: packed on x86-64 (12 bytes). */
    public static final StructLayout EPOLL_EVENT = MemoryLayout.structLayout(
            JAVA_INT.withName("events"), JAVA_LONG.withByteAlignment(4).withName("data")).withName("epoll_event");
    /** {@code struct flock}. */
    public static final StructLayout FLOCK = MemoryLayout.structLayout(
            java.lang.foreign.ValueLayout.JAVA_SHORT.withName("l_type"),
            java.lang.foreign.ValueLayout.JAVA_SHORT.withName("l_whence"),
            MemoryLayout.paddingLayout(4),
            JAVA_LONG.withName("l_start"), JAVA_LONG.withName("l_len"), JAVA_INT.withName("l_pid"),
            MemoryLayout.paddingLayout(4)).withName("flock");
    /** {@code struct stat} (x86-64): only the fields the VMM reads are named. */
    public static final StructLayout STAT = MemoryLayout.structLayout(
            JAVA_LONG.withName("st_dev"), JAVA_LONG.withName("st_ino"), JAVA_LONG.withName("st_nlink"),
            JAVA_INT.withName("st_mode"), JAVA_INT.withName("st_uid"), JAVA_INT.withName("st_gid"),
            MemoryLayout.paddingLayout(4), JAVA_LONG.withName("st_rdev"), JAVA_LONG.withName("st_size"),
            JAVA_LONG.withName("st_blksize"), JAVA_LONG.withName("st_blocks"),
            MemoryLayout.paddingLayout(8 * 9)).withName("stat");

    private Libc() {}

    private static int errno() {
        return CALL_STATE.get().get(JAVA_INT, ERRNO_OFFSET);
    }

    private static int check(String call, int r) {
        if (r == -1) throw new NativeException(call, errno());
        return r;
    }

    private static long check(String call, long r) {
        if (r == -1) throw new NativeException(call, errno());
        return r;
    }

    /** A {@link #syscallRaw} result: the value, or a {@link NativeException} naming the call for {@code -errno}. */
    private static long checkSyscall(String call, long r) {
        if (r < 0 && r >= -4095) throw new NativeException(call, (int) -r);
        return r;
    }

    /** The address of a native segment (NULL is fine); a heap segment has none a system call could use. */
    private static long nativeAddress(MemorySegment s) {
        if (!s.isNative()) throw new IllegalArgumentException("heap segment passed to a system call");
        return s.address();
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException re) return re;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) StrerrorCall.H.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    public static int open(String path, int flags, int mode) {
        try (Arena a = Arena.ofConfined()) {
            long fd = syscallRaw(SYS_OPENAT, AT_FDCWD, a.allocateFrom(path).address(), flags, mode, 0, 0);
            if (fd < 0) throw new NativeException("open " + path, (int) -fd);
            return (int) fd;
        }
    }

    /** An anonymous shared-memory file (guest RAM with {@code share=on}); {@code name} shows in /proc/PID/fd. */
    public static int memfdCreate(String name, int flags) {
        try (Arena a = Arena.ofConfined()) {
            return check("memfd_create", (int) MEMFD_CREATE.get().invokeExact(CALL_STATE.get(), a.allocateFrom(name), flags));
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void close(int fd) {
        checkSyscall("close", syscallRaw(SYS_CLOSE, fd, 0, 0, 0, 0, 0));
    }

    /** ioctl with a pointer argument; throws on failure. {@code name} is the request's name for errors. */
    public static int ioctl(int fd, String name, long request, MemorySegment arg) {
        int r = ioctlRaw(fd, request, arg);
        if (r < 0) throw new NativeException(name, -r);
        return r;
    }

    /** ioctl with an integer argument; throws on failure. */
    public static int ioctl(int fd, String name, long request, long arg) {
        int r = ioctlRaw(fd, request, arg);
        if (r < 0) throw new NativeException(name, -r);
        return r;
    }

    /** ioctl with a pointer argument; returns the result or {@code -errno}. */
    public static int ioctlRaw(int fd, long request, MemorySegment arg) {
        try {
            int r = (int) IoctlPtrCall.H.invokeExact(CALL_STATE.get(), fd, request, arg);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** ioctl with an integer argument; returns the result or {@code -errno}. */
    public static int ioctlRaw(int fd, long request, long arg) {
        try {
            int r = (int) IoctlLongCall.H.invokeExact(CALL_STATE.get(), fd, request, arg);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** mmap; the returned segment has the mapping's length (unmap it with {@link #munmap}). */
    public static MemorySegment mmap(MemorySegment addr, long length, int prot, int flags, int fd, long offset) {
        long p = checkSyscall("mmap", syscallRaw(SYS_MMAP, nativeAddress(addr), length, prot, flags, fd, offset));
        return MemorySegment.ofAddress(p).reinterpret(length);
    }

    public static void munmap(MemorySegment mapping) {
        checkSyscall("munmap", syscallRaw(SYS_MUNMAP, nativeAddress(mapping), mapping.byteSize(), 0, 0, 0, 0));
    }

    public static void madvise(MemorySegment range, int advice) {
        checkSyscall("madvise", syscallRaw(SYS_MADVISE, nativeAddress(range), range.byteSize(), advice, 0, 0, 0));
    }

    public static int eventfd(int initval, int flags) {
        try { return check("eventfd", (int) EVENTFD.get().invokeExact(CALL_STATE.get(), initval, flags)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static int epollCreate1(int flags) {
        try { return check("epoll_create1", (int) EPOLL_CREATE1.get().invokeExact(CALL_STATE.get(), flags)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static void epollCtl(int epfd, int op, int fd, int events, long data) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(EPOLL_EVENT);
            ev.set(JAVA_INT, 0, events);
            ev.set(JAVA_LONG.withByteAlignment(4), 4, data);
            check("epoll_ctl", (int) EPOLL_CTL.get().invokeExact(CALL_STATE.get(), epfd, op, fd, ev));
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** epoll_wait into {@code events} (an array of {@link #EPOLL_EVENT}); returns the count or {@code -errno}. */
    public static int epollWaitRaw(int epfd, MemorySegment events, int maxEvents, int timeoutMs) {
        try {
            int r = (int) EpollWaitCall.H.invokeExact(CALL_STATE.get(), epfd, events, maxEvents, timeoutMs);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** The 8-byte counter 1, read-only: what every eventfd signal writes. */
    private static final MemorySegment EVENTFD_ONE = Arena.global().allocate(JAVA_LONG);

    static {
        EVENTFD_ONE.set(JAVA_LONG, 0, 1L);
    }

    /**
     * Adds 1 to an eventfd (a kick, a wake-up, an irqfd interrupt). Allocation-free, callable from
     * any thread; returns 8 or {@code -errno} (EAGAIN only if the counter would overflow).
     */
    public static long eventfdSignal(int fd) {
        return writeRaw(fd, EVENTFD_ONE, 8);
    }

    /** read(2); returns bytes read or {@code -errno}. */
    public static long readRaw(int fd, MemorySegment buf, long count) {
        try {
            long r = (long) ReadCall.H.invokeExact(CALL_STATE.get(), fd, buf, count);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** write(2); returns bytes written or {@code -errno}. */
    public static long writeRaw(int fd, MemorySegment buf, long count) {
        try {
            long r = (long) WriteCall.H.invokeExact(CALL_STATE.get(), fd, buf, count);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static long read(int fd, MemorySegment buf) {
        long r = readRaw(fd, buf, buf.byteSize());
        if (r < 0) throw new NativeException("read", (int) -r);
        return r;
    }

    public static long write(int fd, MemorySegment buf) {
        long r = writeRaw(fd, buf, buf.byteSize());
        if (r < 0) throw new NativeException("write", (int) -r);
        return r;
    }

    public static long pread(int fd, MemorySegment buf, long offset) {
        long r = syscallRaw(SYS_PREAD64, fd, nativeAddress(buf), buf.byteSize(), offset, 0, 0);
        java.lang.ref.Reference.reachabilityFence(buf);
        return checkSyscall("pread", r);
    }

    public static long pwrite(int fd, MemorySegment buf, long offset) {
        try { return check("pwrite", (long) PWRITE.get().invokeExact(CALL_STATE.get(), fd, buf, buf.byteSize(), offset)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    /** preadv over {@code iovcnt} {@link #IOVEC}s. */
    public static long preadv(int fd, MemorySegment iov, int iovcnt, long offset) {
        try { return check("preadv", (long) PREADV.get().invokeExact(CALL_STATE.get(), fd, iov, iovcnt, offset)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static long pwritev(int fd, MemorySegment iov, int iovcnt, long offset) {
        try { return check("pwritev", (long) PWRITEV.get().invokeExact(CALL_STATE.get(), fd, iov, iovcnt, offset)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    /** writev(2); returns bytes written or {@code -errno}. */
    public static long writevRaw(int fd, MemorySegment iov, int iovcnt) {
        try {
            long r = (long) WritevCall.H.invokeExact(CALL_STATE.get(), fd, iov, iovcnt);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /** readv(2); returns bytes read or {@code -errno}. */
    public static long readvRaw(int fd, MemorySegment iov, int iovcnt) {
        try {
            long r = (long) ReadvCall.H.invokeExact(CALL_STATE.get(), fd, iov, iovcnt);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    public static void fallocate(int fd, int mode, long offset, long len) {
        try { check("fallocate", (int) FALLOCATE.get().invokeExact(CALL_STATE.get(), fd, mode, offset, len)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    /** fstat into a {@link #STAT} segment. */
    public static void fstat(int fd, MemorySegment stat) {
        if (stat.byteSize() < STAT.byteSize()) throw new IllegalArgumentException("fstat needs " + STAT.byteSize() + " bytes");
        long r = syscallRaw(SYS_NEWFSTATAT, fd, EMPTY_PATH.address(), nativeAddress(stat), AT_EMPTY_PATH, 0, 0);
        java.lang.ref.Reference.reachabilityFence(stat);
        checkSyscall("fstat", r);
    }

    public static void fsync(int fd) {
        try { check("fsync", (int) FSYNC.get().invokeExact(CALL_STATE.get(), fd)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static void fdatasync(int fd) {
        try { check("fdatasync", (int) FDATASYNC.get().invokeExact(CALL_STATE.get(), fd)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static void ftruncate(int fd, long length) {
        try { check("ftruncate", (int) FTRUNCATE.get().invokeExact(CALL_STATE.get(), fd, length)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    /** fcntl with an int argument. */
    public static int fcntl(int fd, int cmd, int arg) {
        return (int) checkSyscall("fcntl", syscallRaw(SYS_FCNTL, fd, cmd, arg, 0, 0, 0));
    }

    /** fcntl with a pointer argument; returns the result or {@code -errno}. */
    public static int fcntlRaw(int fd, int cmd, MemorySegment arg) {
        long r = syscallRaw(SYS_FCNTL, fd, cmd, nativeAddress(arg), 0, 0, 0);
        java.lang.ref.Reference.reachabilityFence(arg);
        return (int) r;
    }

    /** prctl(2), through syscall(2) like the cold calls above: {@code vmm img}'s sandbox set-up links no handle of its own. */
    public static int prctl(int option, long a2, long a3, long a4, long a5) {
        return (int) checkSyscall("prctl", syscallRaw(SYS_PRCTL, option, a2, a3, a4, a5, 0));
    }

    /** syscall(2) with up to six arguments; returns the result or {@code -errno}. */
    public static long syscallRaw(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
        try {
            long r = (long) Syscall6Call.H.invokeExact(CALL_STATE.get(), nr, a1, a2, a3, a4, a5, a6);
            return r == -1 ? -errno() : r;
        } catch (Throwable t) { throw rethrow(t); }
    }

    /**
     * seccomp(2) through syscall(2) (glibc has no wrapper); returns the result (with TSYNC, a
     * positive thread id means that thread could not be synchronised) or {@code -errno}.
     */
    public static long seccompRaw(int operation, int flags, MemorySegment args) {
        return syscallRaw(SYS_SECCOMP, operation, Integer.toUnsignedLong(flags), args.address(), 0, 0, 0);
    }

    /** sigaction(2) with raw {@code struct sigaction} buffers (either may be NULL). */
    public static void sigaction(int signo, MemorySegment act, MemorySegment oldact) {
        try { check("sigaction", (int) SIGACTION.get().invokeExact(CALL_STATE.get(), signo, act, oldact)); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static long pthreadSelf() {
        try { return (long) PthreadSelfCall.H.invokeExact(); }
        catch (Throwable t) { throw rethrow(t); }
    }

    /** pthread_kill; returns 0 or an error number (it does not use errno). */
    public static int pthreadKill(long thread, int signo) {
        try { return (int) PthreadKillCall.H.invokeExact(thread, signo); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static long sysconf(int name) {
        try { return (long) SYSCONF.get().invokeExact(name); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static int getpid() {
        try { return (int) GETPID.get().invokeExact(); }
        catch (Throwable t) { throw rethrow(t); }
    }

    public static int gettid() {
        try { return (int) GETTID.get().invokeExact(); }
        catch (Throwable t) { throw rethrow(t); }
    }
}
