package dev.vmm.migration;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Tunables of {@code migrate-set-parameters} / {@code query-migrate-parameters}, with QEMU's names
 * and defaults. Thread-safe: QMP may change them while a migration runs, and the migration thread
 * reads them at every page batch (bandwidth) or iteration (the others). The values live in one
 * immutable map, replaced whole by each {@link #set(Map)}: a reader never sees half a command.
 */
public final class MigrationParameters {
    /** How the source decides whether to trust the dirty log ({@code x-dirty-log-verify}). */
    public enum VerifyMode {
        /** Run the dirty-log self-test if one was given, else trust the log. */
        AUTO,
        /** Always verify with page hashes at stop-and-copy. */
        ON,
        /** Always trust the dirty log. */
        OFF;

        /** {@code auto}, {@code on} or {@code off}. */
        public String qmpName() { return name().toLowerCase(Locale.ROOT); }
    }

    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;   // QEMU's default, bytes/s
    public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
    public static final long DEFAULT_XBZRLE_CACHE_SIZE = 64L << 20;
    public static final long MAX_DOWNTIME_LIMIT_MS = 2_000_000;    // QEMU's bound

    private static final String VERIFY = "x-dirty-log-verify";

    /** Every parameter with its default, in {@code query-migrate-parameters} order; the default's type is the parameter's. */
    private static final Map<String, Object> DEFAULTS = defaults();

    /** The integer parameters' ranges (inclusive), QEMU's. */
    private static final Map<String, long[]> RANGES = Map.of(
            "max-bandwidth", new long[] {0, Long.MAX_VALUE / 2},
            "downtime-limit", new long[] {0, MAX_DOWNTIME_LIMIT_MS},
            "xbzrle-cache-size", new long[] {4096, 1L << 40},
            "cpu-throttle-initial", new long[] {1, 99},
            "cpu-throttle-increment", new long[] {1, 99},
            "max-cpu-throttle", new long[] {1, 99},
            "throttle-trigger-threshold", new long[] {1, 100});

    private volatile Map<String, Object> values = DEFAULTS;

    private static Map<String, Object> defaults() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("max-bandwidth", DEFAULT_MAX_BANDWIDTH);
        m.put("downtime-limit", DEFAULT_DOWNTIME_LIMIT_MS);
        m.put("xbzrle-cache-size", DEFAULT_XBZRLE_CACHE_SIZE);
        m.put("cpu-throttle-initial", 20L);
        m.put("cpu-throttle-increment", 10L);
        m.put("cpu-throttle-tailslow", false);
        m.put("max-cpu-throttle", 99L);
        m.put("throttle-trigger-threshold", 50L);
        m.put(VERIFY, VerifyMode.AUTO.qmpName());
        return Collections.unmodifiableMap(m);
    }

    /** Bytes per second on the wire during the live phase; 0 means unlimited. */
    public long maxBandwidth() { return number("max-bandwidth"); }

    public long downtimeLimitMs() { return number("downtime-limit"); }

    public long xbzrleCacheSize() { return number("xbzrle-cache-size"); }

    public int cpuThrottleInitial() { return (int) number("cpu-throttle-initial"); }

    public int cpuThrottleIncrement() { return (int) number("cpu-throttle-increment"); }

    /** QEMU's {@code cpu-throttle-tailslow}: raise the throttle by less near the end (see {@link ConvergencePolicy}). */
    public boolean cpuThrottleTailslow() { return (Boolean) values.get("cpu-throttle-tailslow"); }

    public int maxCpuThrottle() { return (int) number("max-cpu-throttle"); }

    public int throttleTriggerThreshold() { return (int) number("throttle-trigger-threshold"); }

    public VerifyMode dirtyLogVerify() { return VerifyMode.valueOf(((String) values.get(VERIFY)).toUpperCase(Locale.ROOT)); }

    private long number(String name) {
        return (Long) values.get(name);
    }

    public MigrationParameters maxBandwidth(long bytesPerSecond) { return set("max-bandwidth", bytesPerSecond); }

    public MigrationParameters downtimeLimitMs(long ms) { return set("downtime-limit", ms); }

    public MigrationParameters xbzrleCacheSize(long bytes) { return set("xbzrle-cache-size", bytes); }

    public MigrationParameters dirtyLogVerify(VerifyMode mode) { return set(VERIFY, mode.qmpName()); }

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
     * {@code true|false} for {@code cpu-throttle-tailslow}), e.g. from a command line: the text is
     * converted to the parameter's type, then set as by {@link #set(Map)}.
     */
    public MigrationParameters set(String name, String text) {
        Object type = DEFAULTS.get(name);
        if (type == null) throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
        Object value = switch (type) {
            case Boolean _ -> switch (text) {
                case "true" -> true;
                case "false" -> false;
                default -> throw new IllegalArgumentException("Parameter '" + name + "' expects a boolean");
            };
            case Long _ -> parseInteger(name, text);
            default -> text;
        };
        return set(Map.of(name, value));
    }

    /**
     * {@code migrate-set-parameters}: sets all of {@code given} (QMP name → JSON value as Java: an
     * integral {@link Number}, a {@link Boolean} or, for {@code x-dirty-log-verify}, a
     * {@link String}) or, if one is refused, none. As QEMU, each value must have its parameter's
     * type (no {@code "10"} for 10), and the result is checked as a whole: {@code max-cpu-throttle}
     * may not be below {@code cpu-throttle-initial}, whichever of the two changed.
     *
     * @throws IllegalArgumentException for an unknown name, a value of the wrong type or out of
     *                                  range (message fit for QMP)
     */
    public synchronized MigrationParameters set(Map<String, ?> given) {
        Map<String, Object> next = new LinkedHashMap<>(values);
        given.forEach((name, value) -> next.put(name, checked(name, value)));
        long initial = (Long) next.get("cpu-throttle-initial");
        if ((Long) next.get("max-cpu-throttle") < initial) {
            throw new IllegalArgumentException("Parameter 'max-cpu-throttle' expects a value between cpu-throttle-initial ("
                    + initial + ") and 99");
        }
        values = Collections.unmodifiableMap(next);
        return this;
    }

    /** {@code value} as the parameter's type (that of its default), or why it cannot be. */
    private static Object checked(String name, Object value) {
        Object type = DEFAULTS.get(name);
        if (type == null) throw new IllegalArgumentException("Parameter '" + name + "' is unexpected");
        if (name.equals(VERIFY)) {
            if (value instanceof String s) {
                for (VerifyMode m : VerifyMode.values()) {
                    if (m.qmpName().equals(s.toLowerCase(Locale.ROOT))) return m.qmpName();
                }
            }
            throw new IllegalArgumentException("Parameter 'x-dirty-log-verify' expects auto, on or off");
        }
        if (type instanceof Boolean) {
            if (value instanceof Boolean b) return b;
            throw new IllegalArgumentException("Parameter '" + name + "' expects a boolean");
        }
        if (!(value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte)) {
            throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
        }
        long v = ((Number) value).longValue();
        long[] range = RANGES.get(name);
        if (v < range[0] || v > range[1]) {
            throw new IllegalArgumentException("Parameter '" + name + "' expects a value between " + range[0] + " and " + range[1]);
        }
        return v;
    }

    private static long parseInteger(String name, String text) {
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Parameter '" + name + "' expects an integer");
        }
    }

    /** The {@code query-migrate-parameters} reply. */
    public Map<String, Object> toMap() {
        return new LinkedHashMap<>(values);
    }
}
