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

    /** Sets an integer parameter by its QMP name: {@link #set(Map)} with one entry. */
    public MigrationParameters set(String name, long value) {
        return set(Map.of(name, value));
    }

    /** Sets a boolean parameter ({@code cpu-throttle-tailslow}) by its QMP name: {@link #set(Map)} with one entry. */
    public MigrationParameters set(String name, boolean value) {
        return set(Map.of(name, value));
    }

    /**
     * Sets a parameter from its text form (numbers, {@code auto|on|off} for {@code x-dirty-log-verify},
     * {@code true|false} for {@code cpu-throttle-tailslow}): {@link #set(Map)} with one entry.
     */
    public MigrationParameters set(String name, String value) {
        return set(Map.of(name, value));
    }

    /**
     * {@code migrate-set-parameters}: sets all of {@code values} (QMP name → {@link Number},
     * {@link Boolean} or {@link String}) or, if one is refused, none. As QEMU, the result is checked
     * as a whole: {@code max-cpu-throttle} may not be below {@code cpu-throttle-initial}, whichever
     * of the two changed.
     *
     * @throws IllegalArgumentException for an unknown name, a value of the wrong type or out of
     *                                  range (message fit for QMP)
     */
    public synchronized MigrationParameters set(Map<String, ?> values) {
        MigrationParameters next = new MigrationParameters().copyFrom(this);
        values.forEach(next::apply);
        if (next.maxCpuThrottle < next.cpuThrottleInitial) {
            throw new IllegalArgumentException("Parameter 'max-cpu-throttle' expects a value between cpu-throttle-initial ("
                    + next.cpuThrottleInitial + ") and 99");
        }
        return copyFrom(next);
    }

    private MigrationParameters copyFrom(MigrationParameters o) {
        maxBandwidth = o.maxBandwidth;
        downtimeLimitMs = o.downtimeLimitMs;
        xbzrleCacheSize = o.xbzrleCacheSize;
        cpuThrottleInitial = o.cpuThrottleInitial;
        cpuThrottleIncrement = o.cpuThrottleIncrement;
        cpuThrottleTailslow = o.cpuThrottleTailslow;
        maxCpuThrottle = o.maxCpuThrottle;
        throttleTriggerThreshold = o.throttleTriggerThreshold;
        dirtyLogVerify = o.dirtyLogVerify;
        return this;
    }

    private void apply(String name, Object value) {
        switch (value) {
            case Boolean b -> applyBoolean(name, b);
            case Number n -> applyLong(name, n.longValue());
            case String s -> applyText(name, s);
            default -> throw new IllegalArgumentException("Parameter '" + name + "' has an unexpected type");
        }
    }

    private void applyLong(String name, long value) {
        switch (name) {
            case "max-bandwidth" -> maxBandwidth = range(name, value, 0, Long.MAX_VALUE / 2);
            case "downtime-limit" -> downtimeLimitMs = range(name, value, 0, MAX_DOWNTIME_LIMIT_MS);
            case "xbzrle-cache-size" -> xbzrleCacheSize = range(name, value, 4096, 1L << 40);
            case "cpu-throttle-initial" -> cpuThrottleInitial = (int) range(name, value, 1, 99);
            case "cpu-throttle-increment" -> cpuThrottleIncrement = (int) range(name, value, 1, 99);
            case "max-cpu-throttle" -> maxCpuThrottle = (int) range(name, value, 1, 99);
            case "throttle-trigger-threshold" -> throttleTriggerThreshold = (int) range(name, value, 1, 100);
            case "x-dirty-log-verify" -> throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
            case "cpu-throttle-tailslow" -> throw new IllegalArgumentException("Parameter '" + name + "' expects a boolean");
            default -> throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
        }
    }

    private void applyBoolean(String name, boolean value) {
        if (name.equals("cpu-throttle-tailslow")) cpuThrottleTailslow = value;
        else if (name.equals("x-dirty-log-verify")) throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
        else if (toMap().containsKey(name)) throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
        else throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
    }

    private void applyText(String name, String value) {
        switch (name) {
            case "cpu-throttle-tailslow" -> {
                if (!value.equals("true") && !value.equals("false")) {
                    throw new IllegalArgumentException("Parameter '" + name + "' expects a boolean");
                }
                cpuThrottleTailslow = Boolean.parseBoolean(value);
            }
            case "x-dirty-log-verify" -> dirtyLogVerify = verifyMode(value);
            default -> {
                long v;
                try {
                    v = Long.parseLong(value);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
                }
                applyLong(name, v);
            }
        }
    }

    private static VerifyMode verifyMode(String value) {
        for (VerifyMode m : VerifyMode.values()) {
            if (m.qmpName.equals(value.toLowerCase(Locale.ROOT))) return m;
        }
        throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
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
