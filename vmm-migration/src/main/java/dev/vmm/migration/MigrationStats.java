package dev.vmm.migration;

import dev.vmm.migration.xbzrle.XbzrleCacheStats;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One consistent-enough look at a migration, for {@code query-migrate}: {@link #toMap()} gives
 * QEMU's field names (the VMM turns the map into JSON), {@link #progressLine()} a one-line summary.
 * Times are milliseconds, sizes bytes, rates per second.
 *
 * @param xbzrle              null unless the {@code xbzrle} capability is on
 * @param dirtyLogMode        {@code "kvm"} (trust the dirty log) or {@code "verified"} (page hashes
 *                            checked at stop-and-copy); null before setup decided
 * @param verifiedResentPages pages the dirty log missed, found by their hash and resent
 * @param selfTest            the dirty-log self-test's verdict, or null if none ran
 * @param errorDesc           why it failed, or null
 * @param setupPauseMs        how long the guest was paused at setup for the stop-and-copy rehearsal
 *                            ({@link VmControl#rehearse})
 * @param downtimeBreakdown   milliseconds of each stop-and-copy step in order (pause, ram, verify,
 *                            device, ready), empty until the migration completed
 */
public record MigrationStats(MigrationStatus status, long totalTimeMs, long expectedDowntimeMs, long downtimeMs,
                             long setupTimeMs, long transferred, long remaining, long total, long duplicate,
                             long normal, int pageSize, long dirtyPagesRate, double mbps, long dirtySyncCount,
                             long precopyBytes, long downtimeBytes, XbzrleCacheStats xbzrle, int cpuThrottlePercentage,
                             String dirtyLogMode, long verifiedResentPages, String selfTest, String errorDesc,
                             long setupPauseMs, Map<String, Long> downtimeBreakdown) {

    /** The {@code query-migrate} reply; empty before any migration, as QEMU's. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (status == MigrationStatus.NONE) return m;
        m.put("status", status.qmpName());
        boolean running = !status.isFinal();
        if (status != MigrationStatus.SETUP) {
            m.put("total-time", totalTimeMs);
            m.put("setup-time", setupTimeMs);
            m.put("x-setup-pause", setupPauseMs);
            if (running) m.put("expected-downtime", expectedDowntimeMs);
            if (status == MigrationStatus.COMPLETED) m.put("downtime", downtimeMs);
            if (status == MigrationStatus.COMPLETED && !downtimeBreakdown.isEmpty()) m.put("x-downtime-breakdown", downtimeBreakdown);
            Map<String, Object> ram = new LinkedHashMap<>();
            ram.put("transferred", transferred);
            ram.put("remaining", remaining);
            ram.put("total", total);
            ram.put("duplicate", duplicate);
            ram.put("normal", normal);
            ram.put("normal-bytes", normal * pageSize);
            ram.put("dirty-pages-rate", dirtyPagesRate);
            ram.put("mbps", mbps);
            ram.put("dirty-sync-count", dirtySyncCount);
            ram.put("page-size", pageSize);
            ram.put("precopy-bytes", precopyBytes);
            ram.put("downtime-bytes", downtimeBytes);
            m.put("ram", ram);
            if (xbzrle != null) {
                Map<String, Object> x = new LinkedHashMap<>();
                x.put("cache-size", xbzrle.cacheSize());
                x.put("bytes", xbzrle.bytes());
                x.put("pages", xbzrle.pages());
                x.put("cache-miss", xbzrle.cacheMiss());
                x.put("cache-miss-rate", xbzrle.cacheMissRate());
                x.put("encoding-rate", xbzrle.encodingRate());
                x.put("overflow", xbzrle.overflow());
                m.put("xbzrle-cache", x);
            }
            if (cpuThrottlePercentage > 0) m.put("cpu-throttle-percentage", cpuThrottlePercentage);
        }
        if (dirtyLogMode != null) m.put("x-dirty-log-mode", dirtyLogMode);
        if (dirtyLogMode != null) m.put("x-verified-resent-pages", verifiedResentPages);
        if (selfTest != null) m.put("x-dirty-log-self-test", selfTest);
        if (errorDesc != null) m.put("error-desc", errorDesc);
        return m;
    }

    /** E.g. {@code migration active: 40% of 1024 MiB sent (612 MiB), 937 Mbps, sync 3, ...}. */
    public String progressLine() {
        if (status == MigrationStatus.NONE) return "migration: none";
        long mib = 1 << 20;
        long done = total - remaining;
        int pct = total == 0 ? 100 : (int) Math.min(100, done * 100 / total);
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "migration %s: %d%% of %d MiB RAM, %d MiB transferred, %.0f Mbps, sync %d, remaining %d MiB",
                status.qmpName(), pct, total / mib, transferred / mib, mbps, dirtySyncCount, remaining / mib));
        if (!status.isFinal()) sb.append(", expected downtime ").append(expectedDowntimeMs).append(" ms");
        if (status == MigrationStatus.COMPLETED) {
            sb.append(", downtime ").append(downtimeMs).append(" ms");
            if (!downtimeBreakdown.isEmpty()) {
                StringBuilder parts = new StringBuilder();
                downtimeBreakdown.forEach((k, v) -> parts.append(parts.isEmpty() ? "" : " ").append(k).append(' ').append(v));
                sb.append(" (").append(parts).append(')');
            }
        }
        if (cpuThrottlePercentage > 0) sb.append(", throttle ").append(cpuThrottlePercentage).append('%');
        if (dirtyLogMode != null) sb.append(", dirty log ").append(dirtyLogMode);
        if (verifiedResentPages > 0) sb.append(" (").append(verifiedResentPages).append(" missed pages resent)");
        if (errorDesc != null) sb.append(": ").append(errorDesc);
        return sb.toString();
    }
}
