package dev.vmm.ram;

import dev.vmm.config.ConfigException;
import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.MemorySegment;

/**
 * One mapping of guest RAM: private anonymous memory by default; with {@code share=on} a
 * {@code MAP_SHARED} mapping of an anonymous memfd (another process given the fd could map the
 * same pages; a balloon then releases pages with {@code MADV_REMOVE}); with hugetlbfs pages
 * ({@code --hugepages}) the anonymous MAP_HUGETLB kind. Lazily reserved (MAP_NORESERVE).
 */
public final class RamMapping {
    private RamMapping() {}

    public static MemorySegment map(long size, boolean shared, boolean hugetlb) {
        int prot = Libc.PROT_READ | Libc.PROT_WRITE;
        if (shared && !hugetlb) {
            int fd = Libc.memfdCreate("vmm-guest-ram", Libc.MFD_CLOEXEC);
            try {
                Libc.ftruncate(fd, size);
                return Libc.mmap(MemorySegment.NULL, size, prot, Libc.MAP_SHARED | Libc.MAP_NORESERVE, fd, 0);
            } finally {
                Libc.close(fd); // the mapping keeps the file alive
            }
        }
        int flags = (shared ? Libc.MAP_SHARED : Libc.MAP_PRIVATE) | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE
                | (hugetlb ? Libc.MAP_HUGETLB : 0);
        return Libc.mmap(MemorySegment.NULL, size, prot, flags, -1, 0);
    }

    /** {@code prealloc=on}; a host without the memory is the user's to fix (less --memory, or no prealloc). */
    public static RamPrealloc.Method prealloc(MemorySegment host, long size) {
        try {
            return RamPrealloc.populate(host);
        } catch (NativeException e) {
            throw new ConfigException("--memory prealloc=on: the host cannot provide " + (size >> 20) + " MiB of guest RAM now ("
                    + Libc.strerror(e.errno()) + ")");
        }
    }
}
