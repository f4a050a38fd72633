package dev.vmm.migration;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Tunables of {@code migrate-set-parameters} / {@code query-migrate-parameters}, with QEMU's names
 * and defaults. Thread-safe: QMP may change them while a migration runs, and the migration thread
 * reads them at every page batch (bandwidth) or iteration (the others).
 */
public final class MigrationParameters {
    /** How the source decides whether to trust the dirty log ({@code x-dirty-log-verify}). */
    public enum VerifyMode {
        /** Run the dirty-log self-test if one was given, else trust the log. */
        AUTO("auto"),
        /** Always verify with page hashes at stop-and-copy. */
        ON("on"),
        /** Always trust the dirty log. */
        OFF("off");

        private final String qmpName;

        VerifyMode(String qmpName) {
            this.qmpName = qmpName;
        }

        public String qmpName() { return qmpName; }
    }

    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;   // QEMU's default, bytes/s
    public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
    public static final long DEFAULT_XBZRLE_CACHE_SIZE = 64L << 20;
    public static final long MAX_DOWNTIME_LIMIT_MS = 2_000_000;    // QEMU's bound

    private volatile long maxBandwidth = DEFAULT_MAX_BANDWIDTH;
    private volatile long downtimeLimitMs = DEFAULT_DOWNTIME_LIMIT_MS;
    private volatile long xbzrleCacheSize = DEFAULT_XBZRLE_CACHE_SIZE;
    private volatile int cpuThrottleInitial = 20;
    private volatile int cpuThrottleIncrement = 10;
    private volatile boolean cpuThrottleTailslow;
    private volatile int maxCpuThrottle = 99;
    private volatile int throttleTriggerThreshold = 50;
    private volatile VerifyMode dirtyLogVerify = VerifyMode.AUTO;

    /** Bytes per second on the wire during the live phase; 0 means unlimited. */
    public long maxBandwidth() { return maxBandwidth; }

    public long downtimeLimitMs() { return downtimeLimitMs; }

    public long xbzrleCacheSize() { return xbzrleCacheSize; }

    public int cpuThrottleInitial() { return cpuThrottleInitial; }

    public int cpuThrottleIncrement() { return cpuThrottleIncrement; }

    /** QEMU's {@code cpu-throttle-tailslow}: raise the throttle by less near the end (see {@link ConvergencePolicy}). */
    public boolean cpuThrottleTailslow() { return cpuThrottleTailslow; }

    public int maxCpuThrottle() { return maxCpuThrottle; }

    public int throttleTriggerThreshold() { return throttleTriggerThreshold; }

    public VerifyMode dirtyLogVerify() { return dirtyLogVerify; }

    public MigrationParameters maxBandwidth(long bytesPerSecond) { return set("max-bandwidth", bytesPerSecond); }

    public MigrationParameters downtimeLimitMs(long ms) { return set("downtime-limit", ms); }

    public MigrationParameters xbzrleCacheSize(long bytes) { return set("xbzrle-cache-size", bytes); }

    public MigrationParameters dirtyLogVerify(VerifyMode mode) {
        dirtyLogVerify = mode;
        return this;
    }

    /**
     * Sets an integer parameter by its QMP name.
     *
     * @throws IllegalArgumentException for an unknown name or a value out of range (message fit for QMP)
     */
    public MigrationParameters set(String name, long value) {
        switch (name) {
            case "max-bandwidth" -> maxBandwidth = range(name, value, 0, Long.MAX_VALUE / 2);
            case "downtime-limit" -> downtimeLimitMs = range(name, value, 0, MAX_DOWNTIME_LIMIT_MS);
            case "xbzrle-cache-size" -> xbzrleCacheSize = range(name, value, 4096, 1L << 40);
            case "cpu-throttle-initial" -> cpuThrottleInitial = (int) range(name, value, 1, 99);
            case "cpu-throttle-increment" -> cpuThrottleIncrement = (int) range(name, value, 1, 99);
            case "max-cpu-throttle" -> maxCpuThrottle = (int) range(name, value, 1, 99);
            case "throttle-trigger-threshold" -> throttleTriggerThreshold = (int) range(name, value, 1, 100);
            case "x-dirty-log-verify" -> throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
            case "cpu-throttle-tailslow" -> throw expectsBoolean(name);
            default -> throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
        }
        return this;
    }

    /**
     * Sets a boolean parameter by its QMP name ({@code cpu-throttle-tailslow}).
     *
     * @throws IllegalArgumentException for an unknown name or a parameter that is not a boolean
     */
    public MigrationParameters set(String name, boolean value) {
        if (name.equals("cpu-throttle-tailslow")) {
            cpuThrottleTailslow = value;
            return this;
        }
        if (name.equals("x-dirty-log-verify")) throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
        if (toMap().containsKey(name)) throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
        throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
    }

    private static IllegalArgumentException expectsBoolean(String name) {
        return new IllegalArgumentException("Parameter '" + name + "' expects a boolean");
    }

    /**
     * Sets a parameter from its text form (numbers, {@code auto|on|off} for {@code x-dirty-log-verify},
     * {@code true|false} for {@code cpu-throttle-tailslow}).
     */
    public MigrationParameters set(String name, String value) {
        if (name.equals("cpu-throttle-tailslow")) {
            return switch (value) {
                case "true" -> set(name, true);
                case "false" -> set(name, false);
                default -> throw expectsBoolean(name);
            };
        }
        if (name.equals("x-dirty-log-verify")) {
            for (VerifyMode m : VerifyMode.values()) {
                if (m.qmpName.equals(value.toLowerCase(Locale.ROOT))) {
                    dirtyLogVerify = m;
                    return this;
                }
            }
            throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
        }
        long v;
        try {
            v = Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
        }
        return set(name, v);
    }

    private static long range(String name, long v, long min, long max) {
        if (v < min || v > max) {
            throw new IllegalArgumentException("Parameter '" + name + "' expects a value between " + min + " and " + max);
        }
        return v;
    }

    /** The {@code query-migrate-parameters} reply. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("max-bandwidth", maxBandwidth);
        m.put("downtime-limit", downtimeLimitMs);
        m.put("xbzrle-cache-size", xbzrleCacheSize);
        m.put("cpu-throttle-initial", cpuThrottleInitial);
        m.put("cpu-throttle-increment", cpuThrottleIncrement);
        m.put("cpu-throttle-tailslow", cpuThrottleTailslow);
        m.put("max-cpu-throttle", maxCpuThrottle);
        m.put("throttle-trigger-threshold", throttleTriggerThreshold);
        m.put("x-dirty-log-verify", dirtyLogVerify.qmpName());
        return m;
    }
}
