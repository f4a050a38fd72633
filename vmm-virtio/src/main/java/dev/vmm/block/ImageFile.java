package dev.vmm.block;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One open image file: positional I/O on a raw fd (pread/pwrite through FFM), fsync, hole punching,
 * and an OFD lock over the whole file so that two processes never have one image open read-write
 * (and nobody opens it read-write while it is open read-only here). Thread-safe: every operation is
 * positional.
 *
 * <p>A live migration on shared storage hands the lock over without closing the image:
 * {@link #releaseLock()} on the source, {@link #acquireLock()} on the destination (opened without
 * it) or on a source that resumes. The descriptor, and the I/O on it, is the same throughout.
 */
public final class ImageFile implements AutoCloseable {
    private static final int BOUNCE_SIZE = 1 << 20;
    /**
     * Downcalls cannot take heap segments: heap buffers go through a per-thread native bounce buffer.
     * It grows to what the thread needs (at most 1 MiB) instead of starting at 1 MiB: probing an
     * image reads a few KiB, and zeroing 1 MiB that is never used cost ~5 % of a dry run (#19).
     */
    private static final ThreadLocal<MemorySegment[]> BOUNCE = ThreadLocal.withInitial(() -> new MemorySegment[1]);
    private static final VarHandle ST_SIZE = Libc.STAT.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("st_size"));
    private static final VarHandle ST_MODE = Libc.STAT.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("st_mode"));
    private static final int S_IFMT = 0170000, S_IFREG = 0100000, S_IFBLK = 060000;
    private static final VarHandle ST_BLOCKS = Libc.STAT.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("st_blocks"));

    private final int fd;
    private final Path path;
    private final boolean readOnly;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Test hook (see {@link Journal}); null in normal use. */
    private volatile Journal journal;

    /**
     * Sees what reaches the file and when it is durable: every write, hole punch and sync made
     * through this object, in order, after it succeeded. For crash-consistency tests, which rebuild
     * the file as a crash between two syncs could leave it (docs/testing.md, qcow2 crash states).
     */
    public interface Journal {
        void wrote(long offset, MemorySegment data);

        void punched(long offset, long length);

        void synced();
    }

    /** Installs a journal (null removes it); for tests. */
    public void journal(Journal j) {
        journal = j;
    }

    private ImageFile(int fd, Path path, boolean readOnly) {
        this.fd = fd;
        this.path = path;
        this.readOnly = readOnly;
    }

    /** Opens an existing file and locks it (shared when read-only, exclusive when read-write). */
    public static ImageFile open(Path path, boolean readOnly, boolean lock) {
        int fd;
        try {
            // O_NONBLOCK: opening a FIFO read-only would otherwise wait for a writer, before we can refuse it
            fd = Libc.open(path.toString(), (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC | Libc.O_NONBLOCK, 0);
        } catch (NativeException e) {
            throw new BlockException("cannot open " + path + ": " + Libc.strerror(e.errno()));
        }
        ImageFile f = new ImageFile(fd, path, readOnly);
        try {
            f.requireDisk();
            Libc.fcntl(fd, Libc.F_SETFL, Libc.fcntl(fd, Libc.F_GETFL, 0) & ~Libc.O_NONBLOCK);
        } catch (RuntimeException e) {
            f.close();
            throw e instanceof NativeException n ? new BlockException("cannot open " + path + ": " + Libc.strerror(n.errno())) : e;
        }
        if (lock) {
            try {
                f.acquireLock();
            } catch (RuntimeException e) {
                f.close();
                throw e;
            }
        }
        return f;
    }

    /** Creates (or truncates) a file for writing, locked exclusively. */
    public static ImageFile create(Path path) {
        int fd;
        try {
            fd = Libc.open(path.toString(), Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0644);
        } catch (NativeException e) {
            throw new BlockException("cannot create " + path + ": " + Libc.strerror(e.errno()));
        }
        ImageFile f = new ImageFile(fd, path, false);
        try {
            f.requireDisk();
            f.acquireLock();
            f.truncate(0);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
        return f;
    }

    /**
     * Refuses anything but a regular file or a block device (a FIFO, socket, character device or
     * directory would read as an empty disk, or block): checked on the open fd, before any read.
     */
    private void requireDisk() {
        int type;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            type = (int) ST_MODE.get(st, 0L) & S_IFMT;
        }
        if (type != S_IFREG && type != S_IFBLK) {
            throw new BlockException("cannot open " + path + ": not a regular file or block device (" + typeName(type) + ")");
        }
    }

    private static String typeName(int type) {
        return switch (type) {
            case 0010000 -> "a FIFO";
            case 0020000 -> "a character device";
            case 0040000 -> "a directory";
            case 0140000 -> "a socket";
            default -> "file type 0" + Integer.toOctalString(type);
        };
    }

    /**
     * Takes an already open descriptor of an image that the caller opened with its own flags (the
     * io_uring raw backend: O_DIRECT, O_DSYNC, its own messages); this ImageFile then owns it — its
     * lock and its closing. Not locked yet: see {@link #acquireLock()}. Positional reads and writes
     * through this class are then subject to the caller's flags (O_DIRECT wants aligned buffers).
     */
    public static ImageFile adopt(int fd, Path path, boolean readOnly) {
        return new ImageFile(fd, path, readOnly);
    }

    /** Whether this descriptor holds the image's OFD lock now (guarded by this). */
    private boolean locked;

    /**
     * Takes the image's lock on this descriptor: shared when read-only, exclusive when read-write
     * (again after {@link #releaseLock()}, or for the first time for an image opened without it).
     * Nothing happens when it is held already.
     *
     * @throws ImageLockedException while another open file description (another process, or
     *                              another open in this one) holds a conflicting lock; the image
     *                              stays open and usable, without the lock
     */
    public synchronized void acquireLock() {
        if (locked) return;
        int r = OfdLock.lock(fd, readOnly);
        if (OfdLock.heldElsewhere(r)) {
            throw new ImageLockedException("cannot lock " + path + ": it is in use by another process"
                    + (readOnly ? " that has it open for writing" : ""));
        }
        if (r < 0) throw new BlockException("cannot lock " + path + ": " + Libc.strerror(-r));
        locked = true;
    }

    /**
     * Live-migration hand-over: makes every completed write durable (read-write images) and drops
     * the lock, so that another process can take it; the image stays open and usable here.
     */
    public synchronized void releaseLock() {
        sync();
        if (!locked) return;
        int r = OfdLock.unlock(fd);
        if (r < 0) throw new BlockException("cannot unlock " + path + ": " + Libc.strerror(-r));
        locked = false;
    }

    /** Whether this descriptor holds the image's lock now. */
    public synchronized boolean locked() { return locked; }

    public Path path() { return path; }

    public boolean readOnly() { return readOnly; }

    public int fd() { return fd; }

    /** Current file length in bytes. */
    public long size() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            return (long) ST_SIZE.get(st, 0L);
        }
    }

    /** Bytes actually allocated on the host file system (st_blocks * 512). */
    public long allocatedBytes() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            return (long) ST_BLOCKS.get(st, 0L) * 512;
        }
    }

    private static final long SYS_LSEEK = 8; // x86_64
    private static final int SEEK_DATA = 3, SEEK_HOLE = 4, ENXIO = 6;

    private long seek(long offset, int whence) {
        return Libc.syscallRaw(SYS_LSEEK, fd, offset, whence, 0, 0, 0);
    }

    /**
     * How many bytes from {@code offset} (at most {@code max}) are a hole of the host file (read as
     * zeroes without being stored); 0 when {@code offset} holds data or the file system cannot say.
     */
    public long holeLength(long offset, long max) {
        long next = seek(offset, SEEK_DATA);
        if (next == -ENXIO) return max; // no data from offset to the end of the file
        if (next < 0 || next <= offset) return 0;
        return Math.min(max, next - offset);
    }

    /** How many bytes from {@code offset} (at most {@code max}, at least 1) hold data before the next hole. */
    public long dataLength(long offset, long max) {
        long next = seek(offset, SEEK_HOLE);
        if (next <= offset) return max;
        return Math.min(max, next - offset);
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset}; bytes past the end of the file read as zero. */
    public void read(long offset, MemorySegment dst) {
        if (!dst.isNative()) {
            bounce(offset, dst, false);
            return;
        }
        long done = 0, len = dst.byteSize();
        while (done < len) {
            long r;
            try {
                r = Libc.pread(fd, dst.asSlice(done), offset + done);
            } catch (NativeException e) {
                throw new BlockException("read of " + path + " at " + (offset + done) + " failed: " + Libc.strerror(e.errno()));
            }
            if (r == 0) {
                dst.asSlice(done).fill((byte) 0);
                return;
            }
            done += r;
        }
    }

    /**
     * Reads into ({@code toFile} false) or writes from a heap segment through native memory, which
     * pread/pwrite need, a bounce buffer at a time.
     */
    private void bounce(long offset, MemorySegment heap, boolean toFile) {
        if (Thread.currentThread().isVirtual()) {
            // Virtual threads are many and short-lived (one per NBD request): a per-thread 1 MiB
            // buffer would be a fresh allocation every time, so they bounce through a scratch one.
            try (Arena a = Arena.ofConfined()) {
                bounceVia(a.allocate(Math.min(BOUNCE_SIZE, Math.max(1, heap.byteSize())), 4096), offset, heap, toFile);
            }
        } else {
            bounceVia(threadBounce(heap.byteSize()), offset, heap, toFile);
        }
    }

    /** This thread's bounce buffer, grown (by powers of two, from 4 KiB to 1 MiB) to hold {@code wanted} bytes. */
    private static MemorySegment threadBounce(long wanted) {
        MemorySegment[] slot = BOUNCE.get();
        MemorySegment b = slot[0];
        if (b == null || (b.byteSize() < wanted && b.byteSize() < BOUNCE_SIZE)) {
            long size = Math.min(BOUNCE_SIZE, Math.max(4096, Long.highestOneBit(Math.max(1, wanted - 1)) << 1));
            slot[0] = b = Arena.ofAuto().allocate(size, 4096);
        }
        return b;
    }

    private void bounceVia(MemorySegment bounce, long offset, MemorySegment heap, boolean toFile) {
        for (long done = 0; done < heap.byteSize(); ) {
            long n = Math.min(bounce.byteSize(), heap.byteSize() - done);
            MemorySegment b = bounce.asSlice(0, n);
            if (toFile) {
                b.copyFrom(heap.asSlice(done, n));
                write(offset + done, b);
            } else {
                read(offset + done, b);
                heap.asSlice(done, n).copyFrom(b);
            }
            done += n;
        }
    }

    /** Reads into a new heap array. */
    public byte[] readBytes(long offset, int length) {
        byte[] b = new byte[length];
        read(offset, MemorySegment.ofArray(b));
        return b;
    }

    public void write(long offset, MemorySegment src) {
        if (readOnly) throw new BlockException(path + " is open read-only");
        if (!src.isNative()) {
            bounce(offset, src, true);
            return;
        }
        long done = 0, len = src.byteSize();
        while (done < len) {
            try {
                done += Libc.pwrite(fd, src.asSlice(done), offset + done);
            } catch (NativeException e) {
                throw new BlockException("write of " + path + " at " + (offset + done) + " failed: " + Libc.strerror(e.errno()));
            }
        }
        Journal j = journal;
        if (j != null) j.wrote(offset, src);
    }

    public void write(long offset, byte[] src) {
        write(offset, MemorySegment.ofArray(src));
    }

    public void sync() {
        if (readOnly) return;
        try {
            Libc.fdatasync(fd);
        } catch (NativeException e) {
            throw new BlockException("fsync of " + path + " failed: " + Libc.strerror(e.errno()));
        }
        Journal j = journal;
        if (j != null) j.synced();
    }

    public void truncate(long length) {
        try {
            Libc.ftruncate(fd, length);
        } catch (NativeException e) {
            throw new BlockException("cannot resize " + path + ": " + Libc.strerror(e.errno()));
        }
    }

    /** Releases the storage of a range (it then reads as zeroes); returns false when the file system cannot. */
    public boolean punchHole(long offset, long length) {
        try {
            Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
            Journal j = journal;
            if (j != null) j.punched(offset, length);
            return true;
        } catch (NativeException e) {
            if (e.errno() == Errno.EOPNOTSUPP) return false;
            throw new BlockException("cannot punch a hole in " + path + ": " + Libc.strerror(e.errno()));
        }
    }

    /** Makes a range read as zeroes, keeping it allocated where the file system can; falls back to writing zeroes. */
    public void zeroRange(long offset, long length) {
        try {
            Libc.fallocate(fd, Libc.FALLOC_FL_ZERO_RANGE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
            return;
        } catch (NativeException e) {
            if (e.errno() != Errno.EOPNOTSUPP) throw new BlockException("cannot zero a range of " + path + ": " + Libc.strerror(e.errno()));
        }
        MemorySegment zeroes = Arena.ofAuto().allocate(Math.min(length, BOUNCE_SIZE));
        for (long done = 0; done < length; ) {
            long n = Math.min(zeroes.byteSize(), length - done);
            write(offset + done, zeroes.asSlice(0, n));
            done += n;
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) Libc.close(fd); // closing the fd drops its OFD lock
    }
}
