package dev.vmm.migration;

import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.util.List;

/**
 * Guest RAM as the source sends it: the regions in address order, each cut into pages. Pages are
 * numbered per region ({@code index}) for the dirty bitmaps, by pfn (guest-physical address / page
 * size) on the wire, and across all regions ({@link #globalIndex}) for the per-page hashes.
 */
final class RamLayout {
    final int pageSize;
    final GuestRegion[] regions;
    private final long[] firstPfn;
    private final long[] pages;
    private final long[] firstIndex;
    final long totalPages;

    RamLayout(GuestMemory memory, int pageSize) {
        if (Integer.bitCount(pageSize) != 1 || pageSize < MigrationProtocol.MIN_PAGE || pageSize > MigrationProtocol.MAX_PAGE) {
            throw new IllegalArgumentException("page size " + pageSize + " is not a power of two in 4 KiB..64 KiB");
        }
        this.pageSize = pageSize;
        List<GuestRegion> rs = memory.regions();
        if (rs.size() > MigrationProtocol.MAX_REGIONS) throw new IllegalArgumentException("too many RAM regions");
        regions = rs.toArray(GuestRegion[]::new);
        firstPfn = new long[regions.length];
        pages = new long[regions.length];
        firstIndex = new long[regions.length];
        long total = 0;
        for (int i = 0; i < regions.length; i++) {
            GuestRegion r = regions[i];
            if (r.base() % pageSize != 0 || r.size() % pageSize != 0) {
                throw new IllegalArgumentException(String.format("RAM region 0x%x+0x%x is not page aligned", r.base(), r.size()));
            }
            firstPfn[i] = r.base() / pageSize;
            pages[i] = r.size() / pageSize;
            firstIndex[i] = total;
            total += pages[i];
        }
        if (total > Integer.MAX_VALUE) throw new IllegalArgumentException("guest RAM too large for page hashes");
        totalPages = total;
    }

    int regionCount() { return regions.length; }

    long pages(int region) { return pages[region]; }

    long pfn(int region, long index) { return firstPfn[region] + index; }

    /** The page's number among all pages of all regions (index into the sent-page hashes). */
    int globalIndex(int region, long index) { return (int) (firstIndex[region] + index); }
}
