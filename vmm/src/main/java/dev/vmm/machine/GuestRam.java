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
    /**
     * How guest RAM is backed.
     *
     * @param shared    MAP_SHARED on an anonymous memfd ({@code --memory ...,share=on}, {@code --shared-memory})
     * @param hugepages hugetlbfs pages ({@code --hugepages})
     * @param thp       transparent huge pages where the host's mode allows ({@code thp=off} to refuse; docs/balloon.md)
     * @param prealloc  every page allocated before the guest starts ({@code prealloc=on})
     */
    public record Options(boolean shared, boolean hugepages, boolean mergeable, boolean thp, boolean prealloc) {
        public static final Options DEFAULT = new Options(false, false, false, true, false);

        /** THP on, no preallocation. */
        public Options(boolean shared, boolean hugepages, boolean mergeable) {
            this(shared, hugepages, mergeable, true, false);
        }
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
        int thpAdvice = opts.hugepages() ? dev.vmm.ram.ThpPolicy.NONE : dev.vmm.ram.ThpPolicy.advice(dev.vmm.ram.ThpPolicy.hostMode(), opts.thp());
        for (long[] r : layout(bytes, low)) {
            MemorySegment host = dev.vmm.ram.RamMapping.map(r[1], opts.shared(), opts.hugepages());
            if (opts.mergeable()) Libc.madvise(host, Libc.MADV_MERGEABLE);
            // Guest RAM has no business in a core dump of the VMM, nor in a forked child.
            Libc.madvise(host, Libc.MADV_DONTDUMP);
            Libc.madvise(host, Libc.MADV_DONTFORK);
            // THP by default (docs/balloon.md): before prealloc, so the pages faulted in are huge ones.
            if (thpAdvice != dev.vmm.ram.ThpPolicy.NONE) Libc.madvise(host, thpAdvice);
            if (opts.prealloc()) dev.vmm.ram.RamMapping.prealloc(host, r[1]);
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
