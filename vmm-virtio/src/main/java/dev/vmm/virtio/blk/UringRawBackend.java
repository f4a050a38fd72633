package dev.vmm.virtio.blk;

import dev.vmm.ffm.Ioctl;
import dev.vmm.ffm.NativeException;
import dev.vmm.block.BlockException;
import dev.vmm.block.ImageFile;
import dev.vmm.block.ImageLockedException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.ffm.uring.IoUringConstants;
import dev.vmm.ffm.uring.Sqe;
import dev.vmm.virtio.io.IoThread;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A raw disk image (regular file or block device) served through io_uring: READV/WRITEV straight
 * between the image and guest memory (the iovecs point into the guest RAM mapping, no copy),
 * FSYNC (datasync) for FLUSH, FALLOCATE (punch hole / zero range) for DISCARD and WRITE_ZEROES.
 *
 * <p>Opening takes an fcntl OFD lock on the whole image — a write lock when read-write, a read
 * lock when read-only — so two VMMs (or two devices) never open one disk read-write, and a
 * read-write open never coexists with readers. The descriptor belongs to an {@link ImageFile}
 * (opened here with this backend's flags and messages), which holds the lock, hands it over in a
 * live migration ({@link #releaseLock()}, {@link #acquireLock()}) and drops it with the fd on
 * {@link #close()}.
 *
 * <p>With {@link CacheMode#NONE} (O_DIRECT) the kernel needs buffers, offsets and lengths aligned
 * to the logical block size: guest buffers normally are (page-aligned), the rare misaligned request
 * is copied through an aligned bounce buffer.
 */
public final class UringRawBackend extends AbstractBlkBackend {
    /** BLKGETSIZE64: size in bytes of a block device. */
    private static final long BLKGETSIZE64 = Ioctl.ior(0x12, 114, 8);   // _IOR(0x12, 114, size_t)
    private static final int S_IFMT = 0170000, S_IFBLK = 0060000, S_IFREG = 0100000;
    /** Alignment O_DIRECT requests get (the logical block size every Linux block device accepts). */
    static final int DIRECT_ALIGN = 512;

    /** The image's descriptor (path, read-only or not) and its lock. */
    private final ImageFile file;
    private final CacheMode cache;
    private final boolean blockDevice;
    /** Requests sent as READ_FIXED/WRITE_FIXED (written on the I/O threads; for tests and statistics). */
    private final java.util.concurrent.atomic.AtomicLong fixedSubmitted = new java.util.concurrent.atomic.AtomicLong();

    private UringRawBackend(ImageFile file, long size, CacheMode cache, boolean blockDevice, String serial) {
        super(new DiskFacts(size, file.readOnly(), cache == CacheMode.WRITETHROUGH, serial));
        this.file = file;
        this.cache = cache;
        this.blockDevice = blockDevice;
    }

    /**
     * Opens and locks {@code path}.
     *
     * @throws BlkBackendException with a one-line reason (missing file, permission, lock held by
     *                             another process, O_DIRECT not supported by the file system)
     */
    public static UringRawBackend open(Path path, boolean readOnly, CacheMode cache) {
        return open(path, readOnly, cache, true);
    }

    /**
     * Opens {@code path}, taking its lock only if {@code lockNow}: an incoming-migration destination
     * opens its disks while the source still holds them, and takes the locks with
     * {@link #acquireLock()} once the source has handed them over.
     */
    public static UringRawBackend open(Path path, boolean readOnly, CacheMode cache, boolean lockNow) {
        int flags = (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC;
        if (cache == CacheMode.NONE) flags |= Libc.O_DIRECT;
        if (cache == CacheMode.WRITETHROUGH && !readOnly) flags |= Libc.O_DSYNC;
        int fd;
        try {
            fd = Libc.open(path.toString(), flags, 0);
        } catch (NativeException e) {
            String hint = e.errno() == Errno.EINVAL && cache == CacheMode.NONE ? " (the file system does not support O_DIRECT; use cache=writeback)" : "";
            throw new BlkBackendException("cannot open disk image " + path + ": " + Libc.strerror(e.errno()) + hint);
        }
        ImageFile file = ImageFile.adopt(fd, path, readOnly);
        try {
            if (lockNow) lock(file);
            long size;
            boolean blk;
            String serial;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment st = a.allocate(Libc.STAT);
                Libc.fstat(fd, st);
                int mode = st.get(ValueLayout.JAVA_INT, Libc.STAT.byteOffset(MemoryLayoutPath.of("st_mode")));
                long ino = st.get(ValueLayout.JAVA_LONG, Libc.STAT.byteOffset(MemoryLayoutPath.of("st_ino")));
                long dev = st.get(ValueLayout.JAVA_LONG, Libc.STAT.byteOffset(MemoryLayoutPath.of("st_dev")));
                blk = (mode & S_IFMT) == S_IFBLK;
                if (blk) {
                    MemorySegment sz = a.allocate(8, 8);
                    Libc.ioctl(fd, "BLKGETSIZE64", BLKGETSIZE64, sz);
                    size = sz.get(ValueLayout.JAVA_LONG, 0);
                } else if ((mode & S_IFMT) == S_IFREG) {
                    size = st.get(ValueLayout.JAVA_LONG, Libc.STAT.byteOffset(MemoryLayoutPath.of("st_size")));
                } else {
                    throw new BlkBackendException("disk image " + path + " is neither a regular file nor a block device");
                }
                // Like Firecracker: device and inode identify the image for GET_ID (at most 20 bytes).
                serial = Long.toHexString(dev) + "-" + Long.toHexString(ino);
                if (serial.length() > 20) serial = serial.substring(serial.length() - 20);
            }
            return new UringRawBackend(file, size, cache, blk, serial);
        } catch (RuntimeException e) {
            file.close();
            if (e instanceof BlkBackendException) throw e;
            throw new BlkBackendException("cannot open disk image " + path + ": " + e.getMessage(), e);
        }
    }

    /** Takes the image's lock, worded for a disk image; the same for opening and for a hand-over. */
    private static void lock(ImageFile file) {
        try {
            file.acquireLock();
        } catch (ImageLockedException e) {
            boolean ro = file.readOnly();
            throw new BlkBackendException("disk image " + file.path() + " is locked by another user (another VMM has it open"
                    + (ro ? " read-write" : "") + "); refusing to open it " + (ro ? "read-only" : "read-write"), e);
        } catch (BlockException e) {
            throw new BlkBackendException(e.getMessage(), e);
        }
    }

    public Path path() { return file.path(); }

    @Override
    public void releaseLock() {
        try {
            file.releaseLock();
        } catch (BlockException e) {
            throw new BlkBackendException(e.getMessage(), e);
        }
    }

    @Override
    public void acquireLock() {
        lock(file);
    }

    /** How many requests went out as READ_FIXED/WRITE_FIXED over registered guest RAM. */
    public long fixedSubmitted() { return fixedSubmitted.get(); }

    /** The image fd (for tests and diagnostics). */
    public int fd() { return file.fd(); }

    public CacheMode cacheMode() { return cache; }

    @Override
    public BlkBackendQueue openQueue(IoThread thread, BlkCompletionSink sink) {
        return new Queue(thread, sink);
    }

    @Override
    public void close() {
        file.close();
    }

    @Override
    public String toString() {
        return "raw " + file.path() + (file.readOnly() ? " (read-only)" : "") + ", cache=" + cache.name().toLowerCase() + (blockDevice ? ", block device" : "");
    }

    /** Shorthand for a one-element path in Libc's STAT layout. */
    private static final class MemoryLayoutPath {
        static java.lang.foreign.MemoryLayout.PathElement of(String name) {
            return java.lang.foreign.MemoryLayout.PathElement.groupElement(name);
        }
    }

    /** One queue's channel: SQEs on the queue's I/O thread ring, CQEs routed back by target index. */
    private final class Queue implements BlkBackendQueue {
        private final int fd = file.fd();
        private final IoThread thread;
        private final BlkCompletionSink sink;
        private final int target;
        private final boolean direct = cache == CacheMode.NONE;
        /** Bounce buffers of misaligned O_DIRECT requests, by token (rare path, so a map is fine). */
        private final Map<Long, Bounce> bounces = new HashMap<>();
        private int inFlight;

        Queue(IoThread thread, BlkCompletionSink sink) {
            this.thread = thread;
            this.sink = sink;
            this.target = thread.addTarget(this::onCqe);
        }

        @Override
        public void read(long offset, MemorySegment iovecs, int count, long token) {
            if (direct && misaligned(offset, iovecs, count)) {
                Bounce b = new Bounce(iovecs, count, true);
                submit(token, s -> s.prepRead(fd, b.buffer, offset), b);
            } else if (!submitFixed(IoUringConstants.IORING_OP_READ_FIXED, offset, iovecs, count, token)) {
                Sqe s = claim(token, null); // the hot path: no lambda object per request
                if (s != null) commit(s.prepReadv(fd, iovecs, count, offset), token, null);
            }
        }

        @Override
        public void write(long offset, MemorySegment iovecs, int count, long token) {
            if (direct && misaligned(offset, iovecs, count)) {
                Bounce b = new Bounce(iovecs, count, false);
                b.gather();
                submit(token, s -> s.prepWrite(fd, b.buffer, offset), b);
            } else if (!submitFixed(IoUringConstants.IORING_OP_WRITE_FIXED, offset, iovecs, count, token)) {
                Sqe s = claim(token, null);
                if (s != null) commit(s.prepWritev(fd, iovecs, count, offset), token, null);
            }
        }

        /**
         * READ_FIXED/WRITE_FIXED when the request is one buffer inside a buffer registered with the
         * I/O thread's ring (guest RAM, docs/io-uring-fixed-buffers.md): the kernel then skips pinning
         * the pages per request. False: the caller takes the plain READV/WRITEV path.
         */
        private boolean submitFixed(int opcode, long offset, MemorySegment iovecs, int count, long token) {
            if (count != 1) return false;
            long base = iovecs.get(ValueLayout.JAVA_LONG, 0);
            long len = iovecs.get(ValueLayout.JAVA_LONG, 8);
            int index = thread.fixedBufferIndex(base, len);
            if (index < 0) return false;
            Sqe s = claim(token, null);
            if (s != null) {
                commit(s.prep(opcode, fd, base, (int) len, offset).bufIndex(index), token, null);
                fixedSubmitted.incrementAndGet();
            }
            return true;
        }

        @Override
        public void flush(long token) {
            submit(token, s -> s.prepFsync(fd, true), null);
        }

        @Override
        public void discard(long offset, long length, long token) {
            submit(token, s -> s.prepFallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length), null);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean unmap, long token) {
            // A punched hole reads as zeroes on a file; on a block device PUNCH_HOLE is a discard
            // that may not zero, so only ZERO_RANGE is safe there.
            int mode = unmap && !blockDevice ? Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE
                    : Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE;
            submit(token, s -> s.prepFallocate(fd, mode, offset, length), null);
        }

        private interface Prep {
            void fill(Sqe sqe);
        }

        private void submit(long token, Prep prep, Bounce bounce) {
            Sqe sqe = claim(token, bounce);
            if (sqe != null) {
                prep.fill(sqe);
                commit(sqe, token, bounce);
            }
        }

        /** The next SQE, or null after completing the request with EBUSY (ring full). */
        private Sqe claim(long token, Bounce bounce) {
            Sqe sqe = thread.nextSqe();
            if (sqe == null) {
                if (bounce != null) bounce.close();
                sink.complete(token, -Errno.EBUSY);
            }
            return sqe;
        }

        private void commit(Sqe sqe, long token, Bounce bounce) {
            sqe.userData(IoThread.userData(target, token));
            if (bounce != null) bounces.put(token, bounce);
            inFlight++;
        }

        private void onCqe(long token, int res) {
            inFlight--;
            if (!bounces.isEmpty()) {
                Bounce b = bounces.remove(token);
                if (b != null) {
                    if (b.read && res > 0) b.scatter(res);
                    b.close();
                }
            }
            sink.complete(token, res);
        }

        @Override
        public int inFlight() { return inFlight; }

        @Override
        public void close() {
            thread.removeTarget(target);
            for (Bounce b : bounces.values()) b.close();
            bounces.clear();
        }

        private static boolean misaligned(long offset, MemorySegment iovecs, int count) {
            if ((offset & (DIRECT_ALIGN - 1)) != 0) return true;
            for (int i = 0; i < count; i++) {
                long base = iovecs.get(ValueLayout.JAVA_LONG, 16L * i);
                long len = iovecs.get(ValueLayout.JAVA_LONG, 16L * i + 8);
                if (((base | len) & (DIRECT_ALIGN - 1)) != 0) return true;
            }
            return false;
        }
    }

    /** An aligned copy of a request's guest buffers for O_DIRECT. */
    private static final class Bounce {
        final Arena arena = Arena.ofShared();
        final long[] bases;
        final long[] lens;
        final MemorySegment buffer;
        final boolean read;

        Bounce(MemorySegment iovecs, int count, boolean read) {
            this.read = read;
            bases = new long[count];
            lens = new long[count];
            long total = 0;
            for (int i = 0; i < count; i++) {
                bases[i] = iovecs.get(ValueLayout.JAVA_LONG, 16L * i);
                lens[i] = iovecs.get(ValueLayout.JAVA_LONG, 16L * i + 8);
                total += lens[i];
            }
            long alloc = Math.max(DIRECT_ALIGN, (total + 4095) & ~4095L);
            buffer = arena.allocate(alloc, 4096).asSlice(0, total);
        }

        void gather() {
            long at = 0;
            for (int i = 0; i < bases.length; i++) {
                MemorySegment.copy(MemorySegment.ofAddress(bases[i]).reinterpret(lens[i]), 0, buffer, at, lens[i]);
                at += lens[i];
            }
        }

        void scatter(long n) {
            long at = 0;
            for (int i = 0; i < bases.length && at < n; i++) {
                long k = Math.min(lens[i], n - at);
                MemorySegment.copy(buffer, at, MemorySegment.ofAddress(bases[i]).reinterpret(k), 0, k);
                at += k;
            }
        }

        void close() {
            arena.close();
        }
    }
}
