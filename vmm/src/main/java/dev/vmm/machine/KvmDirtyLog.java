package dev.vmm.machine;

import dev.vmm.ffm.kvm.KvmIoctls;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.DirtyLog;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * KVM's dirty page log for migration: each RAM slot is re-registered with KVM_MEM_LOG_DIRTY_PAGES
 * while a migration runs, and KVM_GET_DIRTY_LOG fetches (and clears) one bit per 4 KiB page.
 * On hosts whose dirty log misses writes (a PVM host's emulated guest code), the migration
 * engine verifies pages by hash at stop-and-copy; see {@link #trustworthy()}.
 */
public final class KvmDirtyLog implements DirtyLog {
    private final VmFd vm;
    private final List<GuestRegion> regions;
    private final MemorySegment[] bitmaps;

    public KvmDirtyLog(VmFd vm, GuestMemory memory) {
        this.vm = vm;
        this.regions = memory.regions();
        this.bitmaps = new MemorySegment[regions.size()];
        Arena arena = Arena.ofAuto();
        for (int i = 0; i < regions.size(); i++) {
            long pages = regions.get(i).size() / 4096;
            bitmaps[i] = arena.allocate(((pages + 63) / 64) * 8, 8);
        }
    }

    /** False on a PVM host, where KVM's dirty log does not see writes made by emulated guest code. */
    public static boolean trustworthy() {
        return !dev.vmm.ffm.kvm.Kvm.isPvmHost();
    }

    @Override
    public void start() {
        for (GuestRegion r : regions) vm.setUserMemoryRegion(r.slot(), KvmIoctls.KVM_MEM_LOG_DIRTY_PAGES, r.base(), r.host());
    }

    @Override
    public long[] fetchAndClear(int regionIndex) {
        GuestRegion r = regions.get(regionIndex);
        vm.getDirtyLog(r.slot(), bitmaps[regionIndex]);
        return bitmaps[regionIndex].toArray(ValueLayout.JAVA_LONG);
    }

    @Override
    public void stop() {
        for (GuestRegion r : regions) {
            try {
                vm.setUserMemoryRegion(r.slot(), 0, r.base(), r.host());
            } catch (RuntimeException e) {
                // the VM may be going away
            }
        }
    }
}
