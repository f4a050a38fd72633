package dev.vmm.ffm.libc;

import dev.vmm.ffm.CProbe;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** libc struct layouts and constants against the system headers. */
class LibcHeaderProbeTest {
    @Test
    void layoutsAndConstantsMatchTheHeaders() throws Exception {
        assumeTrue(CProbe.gccAvailable(), "gcc is needed to compile the header probe");
        CProbe probe = new CProbe("fcntl.h", "sys/uio.h", "sys/epoll.h",
                "sys/stat.h", "sys/mman.h", "sys/eventfd.h", "sys/prctl.h", "sys/syscall.h", "linux/falloc.h", "unistd.h");
        probe.struct(Libc.IOVEC).struct(Libc.EPOLL_EVENT).struct(Libc.FLOCK).struct(Libc.STAT);
        Map<String, Long> consts = Map.ofEntries(
                Map.entry("O_RDWR", (long) Libc.O_RDWR), Map.entry("O_CREAT", (long) Libc.O_CREAT),
                Map.entry("O_EXCL", (long) Libc.O_EXCL), Map.entry("O_TRUNC", (long) Libc.O_TRUNC),
                Map.entry("O_APPEND", (long) Libc.O_APPEND), Map.entry("O_NONBLOCK", (long) Libc.O_NONBLOCK),
                Map.entry("O_DSYNC", (long) Libc.O_DSYNC), Map.entry("O_DIRECT", (long) Libc.O_DIRECT),
                Map.entry("O_CLOEXEC", (long) Libc.O_CLOEXEC), Map.entry("MAP_SHARED", (long) Libc.MAP_SHARED),
                Map.entry("MAP_PRIVATE", (long) Libc.MAP_PRIVATE), Map.entry("MAP_ANONYMOUS", (long) Libc.MAP_ANONYMOUS),
                Map.entry("MAP_NORESERVE", (long) Libc.MAP_NORESERVE), Map.entry("MAP_HUGETLB", (long) Libc.MAP_HUGETLB),
                Map.entry("MAP_POPULATE", (long) Libc.MAP_POPULATE), Map.entry("MADV_DONTNEED", (long) Libc.MADV_DONTNEED),
                Map.entry("MADV_MERGEABLE", (long) Libc.MADV_MERGEABLE), Map.entry("MADV_HUGEPAGE", (long) Libc.MADV_HUGEPAGE),
                Map.entry("MADV_DONTFORK", (long) Libc.MADV_DONTFORK), Map.entry("MADV_REMOVE", (long) Libc.MADV_REMOVE),
                Map.entry("MADV_NOHUGEPAGE", (long) Libc.MADV_NOHUGEPAGE), Map.entry("MADV_POPULATE_WRITE", (long) Libc.MADV_POPULATE_WRITE),
                Map.entry("EFD_NONBLOCK", (long) Libc.EFD_NONBLOCK), Map.entry("EFD_CLOEXEC", (long) Libc.EFD_CLOEXEC),
                Map.entry("EPOLL_CLOEXEC", (long) Libc.EPOLL_CLOEXEC), Map.entry("EPOLLIN", (long) Libc.EPOLLIN),
                Map.entry("EPOLLOUT", (long) Libc.EPOLLOUT), Map.entry("EPOLLET", Integer.toUnsignedLong(Libc.EPOLLET)),
                Map.entry("FALLOC_FL_PUNCH_HOLE", (long) Libc.FALLOC_FL_PUNCH_HOLE),
                Map.entry("FALLOC_FL_ZERO_RANGE", (long) Libc.FALLOC_FL_ZERO_RANGE),
                Map.entry("FALLOC_FL_KEEP_SIZE", (long) Libc.FALLOC_FL_KEEP_SIZE),
                Map.entry("F_OFD_SETLK", (long) Libc.F_OFD_SETLK), Map.entry("F_WRLCK", (long) Libc.F_WRLCK),
                Map.entry("PR_SET_NAME", (long) Libc.PR_SET_NAME), Map.entry("PR_SET_NO_NEW_PRIVS", (long) Libc.PR_SET_NO_NEW_PRIVS),
                Map.entry("_SC_PAGESIZE", (long) Libc.SC_PAGESIZE), Map.entry("_SC_NPROCESSORS_ONLN", (long) Libc.SC_NPROCESSORS_ONLN),
                Map.entry("SYS_io_uring_setup", Libc.SYS_IO_URING_SETUP), Map.entry("SYS_io_uring_enter", Libc.SYS_IO_URING_ENTER),
                Map.entry("SYS_io_uring_register", Libc.SYS_IO_URING_REGISTER), Map.entry("SYS_gettid", Libc.SYS_GETTID),
                Map.entry("SYS_seccomp", Libc.SYS_SECCOMP));
        consts.forEach(probe::constant);
        Map<String, Long> c = probe.run();
        assertThat(probe.expected()).containsExactlyInAnyOrderEntriesOf(c);
    }
}
