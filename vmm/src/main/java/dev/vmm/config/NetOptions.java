package dev.vmm.config;

import dev.vmm.virtio.net.MacAddress;

import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;

/**
 * The {@code --net tap=NAME[,queues=N][,mac=MAC][,bridge=BR][,mtu=BYTES][,queue_size=N]} option.
 * {@code queues} is the number of queue pairs (0 here = "one per vCPU", resolved by
 * {@link #queuePairs(int)}); {@code mtu} 0 = keep the tap's MTU.
 */
public record NetOptions(String tap, int queues, MacAddress mac, String bridge, int mtu, int queueSize) implements DeviceSpec {
    public static final int DEFAULT_QUEUE_SIZE = 256;
    public static final int MIN_MTU = 68;
    public static final int MAX_MTU = 65535;

    /** Parses the option value; every problem is an {@link IllegalArgumentException} with one line. */
    public static NetOptions parse(String text) {
        String tap = null, bridge = null;
        int queues = 0, mtu = 0, queueSize = DEFAULT_QUEUE_SIZE;
        MacAddress mac = null;
        if (text == null || text.isBlank()) throw new IllegalArgumentException("--net needs tap=NAME");
        for (String part : text.split(",")) {
            int eq = part.indexOf('=');
            String key = (eq < 0 ? part : part.substring(0, eq)).trim();
            String value = eq < 0 ? "" : part.substring(eq + 1).trim();
            if (value.isEmpty()) throw new IllegalArgumentException("--net " + key + "= needs a value");
            switch (key) {
                case "tap" -> tap = checkedName(value, "tap");
                case "bridge" -> bridge = checkedName(value, "bridge");
                case "queues" -> queues = number(key, value, 1, Tap.MAX_QUEUES);
                case "mtu" -> mtu = number(key, value, MIN_MTU, MAX_MTU);
                case "queue_size" -> {
                    queueSize = number(key, value, 2, 32768);
                    if (Integer.bitCount(queueSize) != 1) throw new IllegalArgumentException("--net queue_size=" + value + " must be a power of two");
                }
                case "mac" -> {
                    MacAddress m;
                    try {
                        m = MacAddress.parse(value);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("--net mac: " + e.getMessage());
                    }
                    if (m.isMulticast() || m.isZero()) throw new IllegalArgumentException("--net mac=" + value + " must be a unicast, non-zero address");
                    mac = m;
                }
                default -> throw new IllegalArgumentException("--net: unknown key '" + key
                        + "' (expected tap=NAME, queues=N, mac=MAC, bridge=BR, mtu=BYTES, queue_size=N)");
            }
        }
        if (tap == null) throw new IllegalArgumentException("--net needs tap=NAME");
        return new NetOptions(tap, queues, mac, bridge, mtu, queueSize);
    }

    private static String checkedName(String v, String what) {
        try {
            Tap.validateName(v, what);
        } catch (TapException e) {
            throw new IllegalArgumentException("--net: " + e.getMessage());
        }
        return v;
    }

    private static int number(String key, String v, int min, int max) {
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--net " + key + "=" + v + " is not a number");
        }
        if (n < min || n > max) throw new IllegalArgumentException("--net " + key + "=" + v + " must be " + min + ".." + max);
        return n;
    }

    /** Queue pairs: the option, or one per vCPU (capped at the tap limit). */
    public int queuePairs(int vcpus) {
        return queues > 0 ? queues : Math.max(1, Math.min(vcpus, Tap.MAX_QUEUES));
    }

    /** The MAC: the option, or one derived from the tap name. */
    public MacAddress macOrDerived() {
        return mac != null ? mac : MacAddress.derivedFrom(tap);
    }
}
