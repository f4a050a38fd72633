package dev.vmm.machine;

import dev.vmm.boot.X86Layout;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Allocates guest RAM as anonymous mappings and registers each as a KVM memory slot. RAM beyond
 * the start of the 32-bit MMIO hole continues above 4 GiB. Pages are reserved lazily
 * (MAP_NORESERVE): a 4 GiB guest that touches 100 MiB costs 100 MiB.
 */
public final class GuestRam {
    /** How guest RAM is backed. */
    public record Options(boolean shared, boolean hugepages, boolean mergeable) {
        public static final Options DEFAULT = new Options(false, false, false);
    }

    private GuestRam() {}

    /** The (base, size) pairs of RAM for {@code bytes} of memory. */
    public static List<long[]> layout(long bytes) {
        return layout(bytes, Math.min(bytes, X86Layout.MMIO_HOLE_START));
    }

    /** The (base, size) pairs of RAM for {@code bytes} of memory of which {@code low} sit below 4 GiB. */
    public static List<long[]> layout(long bytes, long low) {
        List<long[]> r = new ArrayList<>();
        r.add(new long[] {0, low});
        if (bytes > low) r.add(new long[] {X86Layout.RAM_ABOVE_4G_START, bytes - low});
        return r;
    }

    /**
     * Maps guest RAM without KVM: the kernel can be loaded and checked before {@code /dev/kvm} is
     * opened (a bad kernel is then the user's error on any host). {@link #register} gives the
     * regions to a VM afterwards.
     */
    public static GuestMemory map(long bytes, Options opts) {
        return map(bytes, opts, Math.min(bytes, X86Layout.MMIO_HOLE_START));
    }

    /** As {@link #map(long, Options)}, with {@code low} bytes below 4 GiB (the machine recipe's choice). */
    public static GuestMemory map(long bytes, Options opts, long low) {
        if (bytes < (1 << 20) || (bytes & 0xFFF) != 0) {
            throw new IllegalArgumentException("guest memory must be at least 1 MiB and a multiple of 4 KiB");
        }
        List<GuestRegion> regions = new ArrayList<>();
        int slot = 0;
        for (long[] r : layout(bytes, low)) {
            int flags = (opts.shared() ? Libc.MAP_SHARED : Libc.MAP_PRIVATE) | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE
                    | (opts.hugepages() ? Libc.MAP_HUGETLB : 0);
            MemorySegment host = Libc.mmap(MemorySegment.NULL, r[1], Libc.PROT_READ | Libc.PROT_WRITE, flags, -1, 0);
            if (opts.mergeable()) Libc.madvise(host, Libc.MADV_MERGEABLE);
            // Guest RAM has no business in a core dump of the VMM, nor in a forked child.
            Libc.madvise(host, Libc.MADV_DONTDUMP);
            Libc.madvise(host, Libc.MADV_DONTFORK);
            // Experimental (benchmarks/blk): transparent huge pages as QEMU asks for them; larger RSS
            // steps, fewer pages for the kernel to pin per O_DIRECT request.
            if (!opts.hugepages() && Boolean.getBoolean("vmm.ram.thp")) Libc.madvise(host, Libc.MADV_HUGEPAGE);
            regions.add(new GuestRegion(slot, r[0], host));
            slot++;
        }
        return new GuestMemory(regions);
    }

    /** Makes each region of {@code memory} a KVM memory slot of {@code vm}. */
    public static void register(VmFd vm, GuestMemory memory) {
        for (GuestRegion r : memory.regions()) vm.setUserMemoryRegion(r.slot(), 0, r.base(), r.host());
    }

    /** Unmaps what {@link #map} mapped, for a machine that was never built (no thread has touched it). */
    public static void unmap(GuestMemory memory) {
        for (GuestRegion r : memory.regions()) Libc.munmap(r.host());
    }
}
