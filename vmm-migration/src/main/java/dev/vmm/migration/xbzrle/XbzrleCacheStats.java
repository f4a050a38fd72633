package dev.vmm.migration.xbzrle;

/**
 * XBZRLE counters, named after the {@code xbzrle-cache} object of QEMU's {@code query-migrate}
 * so the lead can report them under the same keys.
 *
 * @param cacheSize     {@code cache-size}: the configured cache size in bytes
 * @param bytes         {@code bytes}: delta bytes produced (stream framing not included)
 * @param pages         {@code pages}: pages sent as a non-empty delta
 * @param cacheMiss     {@code cache-miss}: pages not in the cache (sent in full, then cached)
 * @param cacheMissRate {@code cache-miss-rate}: cache misses / lookups, since the start (QEMU
 *                      computes it per dirty-sync period; callers wanting that diff two snapshots)
 * @param encodingRate  {@code encoding-rate}: page bytes represented by deltas / delta bytes
 * @param overflow      {@code overflow}: cached pages whose delta did not fit (sent in full)
 * @param cacheHits     lookups that found the page (not in QEMU's output)
 * @param unchanged     cached pages found identical (nothing to send; not in QEMU's output)
 */
public record XbzrleCacheStats(long cacheSize, long bytes, long pages, long cacheMiss, double cacheMissRate,
                               double encodingRate, long overflow, long cacheHits, long unchanged) {
}
