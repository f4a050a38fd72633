package dev.vmm.ffm.libc;

import dev.vmm.ffm.NativeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The cold calls that go through syscall(2) (open, close, fstat, fcntl, mmap, munmap, madvise,
 * pread) behave as the glibc wrappers did: results compared with what the JDK's own file APIs
 * report for the same file, and errors carry the call's name and the kernel's errno.
 */
@Timeout(30)
class LibcColdCallsTest {
    private static final int ENOENT = 2, EBADF = 9, EINVAL = 22, EISDIR = 21;
    private static final VarHandle ST_SIZE = Libc.STAT.varHandle(MemoryLayout.PathElement.groupElement("st_size"));
    private static final VarHandle ST_MODE = Libc.STAT.varHandle(MemoryLayout.PathElement.groupElement("st_mode"));

    @TempDir Path tmp;

    @Test
    void openFstatPreadCloseAgreeWithTheJdk() throws IOException {
        Path f = tmp.resolve("data");
        byte[] content = new byte[10_000];
        for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7 + 3);
        Files.write(f, content);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
        int fd = Libc.open(f.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(Libc.STAT);
            Libc.fstat(fd, st);
            assertThat((long) ST_SIZE.get(st, 0L)).isEqualTo(Files.size(f));
            assertThat((int) ST_MODE.get(st, 0L) & 0777).isEqualTo(0640);
            assertThat((int) ST_MODE.get(st, 0L) & 0170000).isEqualTo(0100000); // S_IFREG

            MemorySegment buf = a.allocate(4096);
            assertThat(Libc.pread(fd, buf, 5000)).isEqualTo(4096);
            byte[] expected = java.util.Arrays.copyOfRange(content, 5000, 9096);
            assertThat(buf.toArray(JAVA_BYTE)).isEqualTo(expected);
            assertThat(Libc.pread(fd, buf, 9000)).isEqualTo(1000); // short read at the end
            assertThat(Libc.pread(fd, buf, 20_000)).isZero();

            assertThat(Libc.fcntl(fd, Libc.F_GETFL, 0) & 3).isEqualTo(Libc.O_RDONLY);
        } finally {
            Libc.close(fd);
        }
        // the fd is gone: the next call on it fails with the kernel's EBADF, named after the call
        assertThatThrownBy(() -> Libc.close(fd)).isInstanceOf(NativeException.class)
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(EBADF))
                .hasMessageContaining("close");
        assertThatThrownBy(() -> Libc.fcntl(fd, Libc.F_GETFL, 0)).isInstanceOf(NativeException.class)
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(EBADF));
    }

    @Test
    void openErrorsNameThePathAndCarryErrno() {
        Path missing = tmp.resolve("missing");
        assertThatThrownBy(() -> Libc.open(missing.toString(), Libc.O_RDONLY, 0)).isInstanceOf(NativeException.class)
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(ENOENT))
                .hasMessageContaining(missing.toString());
        assertThatThrownBy(() -> Libc.open(tmp.toString(), Libc.O_RDWR, 0)).isInstanceOf(NativeException.class)
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(EISDIR));
    }

    @Test
    void createWithModeAndOfdLockThroughFcntlRaw() throws IOException {
        Path f = tmp.resolve("created");
        int fd = Libc.open(f.toString(), Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0600);
        try (Arena a = Arena.ofConfined()) {
            assertThat(Files.exists(f)).isTrue();
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
            MemorySegment fl = a.allocate(Libc.FLOCK);
            fl.set(java.lang.foreign.ValueLayout.JAVA_SHORT, 0, Libc.F_WRLCK);
            assertThat(Libc.fcntlRaw(fd, Libc.F_OFD_SETLK, fl)).isZero();
            // a second open file description of the same file cannot take the lock: -EAGAIN
            int fd2 = Libc.open(f.toString(), Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            try {
                assertThat(Libc.fcntlRaw(fd2, Libc.F_OFD_SETLK, fl)).isEqualTo(-11);
            } finally {
                Libc.close(fd2);
            }
            assertThat(Libc.fcntlRaw(fd, 9999, fl)).isEqualTo(-EINVAL);
        } finally {
            Libc.close(fd);
        }
        assertThatThrownBy(() -> Libc.open(f.toString(), Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, 0600))
                .isInstanceOf(NativeException.class).satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(17)); // EEXIST
    }

    @Test
    void mmapMadviseMunmap() {
        long len = 1 << 20;
        MemorySegment m = Libc.mmap(MemorySegment.NULL, len, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
        assertThat(m.byteSize()).isEqualTo(len);
        assertThat(m.address() % 4096).isZero();
        m.set(JAVA_LONG, len - 8, 0x1122334455667788L);
        assertThat(m.get(JAVA_LONG, len - 8)).isEqualTo(0x1122334455667788L);
        Libc.madvise(m, Libc.MADV_DONTNEED); // anonymous private memory reads as zero afterwards
        assertThat(m.get(JAVA_LONG, len - 8)).isZero();
        assertThatThrownBy(() -> Libc.madvise(m.asSlice(1, 4096), Libc.MADV_DONTNEED)).isInstanceOf(NativeException.class)
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(EINVAL)); // unaligned
        Libc.munmap(m);
        assertThatThrownBy(() -> Libc.mmap(MemorySegment.NULL, 0, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0))
                .isInstanceOf(NativeException.class).hasMessageContaining("mmap")
                .satisfies(e -> assertThat(((NativeException) e).errno()).isEqualTo(EINVAL));
    }

    @Test
    void heapSegmentsAreRefusedNotPassedAsAddresses() throws IOException {
        Path f = tmp.resolve("h");
        Files.write(f, new byte[16]);
        int fd = Libc.open(f.toString(), Libc.O_RDONLY, 0);
        try {
            assertThatThrownBy(() -> Libc.pread(fd, MemorySegment.ofArray(new byte[16]), 0)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> Libc.fstat(fd, MemorySegment.ofArray(new byte[(int) Libc.STAT.byteSize()]))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> Libc.fcntlRaw(fd, Libc.F_OFD_SETLK, MemorySegment.ofArray(new long[4]))).isInstanceOf(IllegalArgumentException.class);
        } finally {
            Libc.close(fd);
        }
    }
}
