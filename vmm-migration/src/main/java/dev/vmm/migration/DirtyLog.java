package dev.vmm.migration;

/**
 * Which guest pages were written since the last look: the VMM implements it over
 * {@code KVM_MEM_LOG_DIRTY_PAGES} + {@code KVM_GET_DIRTY_LOG}; tests over a tracked writer.
 *
 * <p>Regions are numbered as in {@link dev.vmm.memory.GuestMemory#regions()} (sorted by base).
 * A bitmap has one bit per page of the region: bit {@code i % 64} of word {@code i / 64} is page
 * {@code i} — KVM's layout read as native (little-endian) {@code u64}s. Only the migration thread
 * calls these methods.
 */
public interface DirtyLog {
    /** Starts logging every region (sets {@code KVM_MEM_LOG_DIRTY_PAGES}); nothing is reported dirty yet. */
    void start() throws Exception;

    /**
     * The pages of region {@code regionIndex} written since {@link #start()} or the previous call,
     * and clears them (atomically with respect to guest writes: a write after the fetch is reported
     * by the next one). The array needs at least {@code ceil(pages / 64)} words; it may be reused
     * by the implementation only until the next call.
     */
    long[] fetchAndClear(int regionIndex) throws Exception;

    /** Stops logging (clears the flag again). Called once, whatever the outcome. */
    void stop();
}
